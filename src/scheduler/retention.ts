/** The daily retention purge, run as a BullMQ job scheduler so exactly one replica runs it each day. */
import { Worker, type Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import { MAINTENANCE_QUEUE, RETENTION_JOB, RETENTION_SCHEDULER_ID } from '../queue/names.ts';
import type { Db } from '../store/db.ts';
import { purgeExpiredEvents } from '../store/retention.ts';

/** 03:17 UTC: off the hour, when the fewest people are changing things. */
export const RETENTION_CRON = '17 3 * * *';

export async function scheduleRetention(queue: Queue): Promise<void> {
  await queue.upsertJobScheduler(RETENTION_SCHEDULER_ID, { pattern: RETENTION_CRON, tz: 'UTC' }, { name: RETENTION_JOB });
}

export function createMaintenanceWorker(deps: {
  db: Db;
  connection: Redis;
  prefix: string;
  retentionDays: number;
  logger: Logger;
}): Worker {
  const worker = new Worker(
    MAINTENANCE_QUEUE,
    async (job) => {
      if (job.name !== RETENTION_JOB) throw new Error(`unknown maintenance job ${job.name}`);
      const log = deps.logger.child({ job: job.name, jobId: job.id });
      const results = await purgeExpiredEvents(deps.db, deps.retentionDays);
      const purged = results.reduce((sum, r) => sum + r.purged, 0);
      log.info({ purged, workspaces: results }, `retention purge removed ${purged} events older than ${deps.retentionDays} days`);
      return { purged };
    },
    { connection: deps.connection, prefix: deps.prefix, concurrency: 1 },
  );
  worker.on('error', (error) => deps.logger.warn({ err: error }, 'maintenance worker error'));
  return worker;
}
