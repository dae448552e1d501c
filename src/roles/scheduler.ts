/**
 * The scheduler role: registers the daily retention purge and the daily signed chain digest, and runs them (each
 * once a day across replicas).
 */
import type { RetryOptions } from '@slack/web-api';
import type { Worker } from 'bullmq';
import { createDigestSchedule, type DigestScheduleOptions } from '../scheduler/digest.ts';
import { type KeptSchedule, keepScheduled, type ScheduleWatch } from '../scheduler/keep-scheduled.ts';
import { createMaintenanceWorker, scheduleRetention } from '../scheduler/retention.ts';
import { DIGEST_SCHEDULER_ID, RETENTION_SCHEDULER_ID } from '../queue/names.ts';
import type { Role, SharedInfrastructure } from './role.ts';

/** How long to wait before trying again to register the schedule while Redis is down. */
const SCHEDULE_RETRY_MS = 30_000;

export interface SchedulerRoleOptions {
  /** Daily chain digest job knobs (tests use short backoffs and no pacing). */
  digests?: DigestScheduleOptions;
  /** WebClient retry policy override for the digest posts (tests use a rapid one). */
  slackRetryConfig?: RetryOptions;
  /** How often to check that the daily schedules are still in Redis (default 10 s). */
  scheduleCheckMs?: number;
}

export function createSchedulerRole(shared: SharedInfrastructure, options: SchedulerRoleOptions = {}): Role {
  const { config, logger } = shared;
  // Signed chain digests (SPEC section 12); off without DIGEST_CHANNEL and the key, with a log line saying so.
  const digests = createDigestSchedule({
    config,
    db: shared.database.db,
    queue: shared.queues.digests,
    connection: shared.redis('bullmq'),
    metrics: shared.metrics,
    logger: logger.child({ role: 'scheduler', component: 'digest' }),
    options: { slackRetryConfig: options.slackRetryConfig, ...options.digests },
  });
  let stopping = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let worker: Worker | undefined;
  let watch: ScheduleWatch | undefined;

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
      await digests.start();
      const { maintenance, digests: digestQueue } = shared.queues;
      const kept: KeptSchedule[] = [
        {
          name: 'retention',
          queue: maintenance,
          schedulerId: RETENTION_SCHEDULER_ID,
          register: () => scheduleRetention(maintenance),
        },
      ];
      if (digests.register) {
        kept.push({ name: 'digest', queue: digestQueue, schedulerId: DIGEST_SCHEDULER_ID, register: digests.register });
      }
      watch = keepScheduled(kept, {
        redis: shared.producerRedis,
        logger: logger.child({ role: 'scheduler' }),
        onRestored: (name) => shared.metrics.schedulesRestored.inc({ schedule: name }),
        intervalMs: options.scheduleCheckMs,
      });
    },
    async stop() {
      stopping = true;
      watch?.stop();
      clearTimeout(retryTimer);
      await Promise.all([worker?.close(), digests.stop()]);
    },
  };
}
