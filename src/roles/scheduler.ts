/** The scheduler role: registers the daily retention purge and runs it (once a day across replicas). */
import type { Worker } from 'bullmq';
import { createMaintenanceWorker, scheduleRetention } from '../scheduler/retention.ts';
import type { Role, SharedInfrastructure } from './role.ts';

/** How long to wait before trying again to register the schedule while Redis is down. */
const SCHEDULE_RETRY_MS = 30_000;

export function createSchedulerRole(shared: SharedInfrastructure): Role {
  const { config, logger } = shared;
  let stopping = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let worker: Worker | undefined;

  // Redis may be down at start: keep trying in the background rather than hold up ingest.
  const schedule = (): Promise<void> =>
    scheduleRetention(shared.queues.maintenance).catch((error: unknown) => {
      logger.warn({ err: error }, 'could not schedule the retention purge yet; retrying in 30 s');
      if (!stopping) retryTimer = setTimeout(() => void schedule(), SCHEDULE_RETRY_MS).unref();
    });

  return {
    async start() {
      await schedule();
      worker = createMaintenanceWorker({
        db: shared.database.db,
        connection: shared.redis('bullmq'),
        prefix: config.queuePrefix,
        retentionDays: config.retentionDays,
        logger: logger.child({ role: 'scheduler' }),
      });
    },
    async stop() {
      stopping = true;
      clearTimeout(retryTimer);
      await worker?.close();
    },
  };
}
