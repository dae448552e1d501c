/** The daily retention purge, run as a BullMQ job scheduler so exactly one replica runs it each day. */
import { type Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import { logWorkerErrors } from '../queue/connection.ts';
import { MAINTENANCE_QUEUE, RETENTION_JOB, RETENTION_SCHEDULER_ID } from '../queue/names.ts';
import type { Db } from '../store/db.ts';
import { purgeExpiredEvents } from '../store/retention.ts';

/** 03:17 UTC: off the hour, when the fewest people are changing things. */
export const RETENTION_CRON = '17 3 * * *';

/** How long start-up waits for Redis to take the schedule before going on without it (the caller retries). */
export const SCHEDULE_TIMEOUT_MS = 3000;

export async function scheduleRetention(queue: Queue, timeoutMs = SCHEDULE_TIMEOUT_MS): Promise<void> {
  // BullMQ waits for its connection to be ready with no limit, which held start-up (and the HTTP listener)
  // for as long as Redis was down. The upsert left running after the timeout is harmless: it is idempotent.
  const upsert = queue.upsertJobScheduler(
    RETENTION_SCHEDULER_ID,
    { pattern: RETENTION_CRON, tz: 'UTC' },
    { name: RETENTION_JOB },
  );
  upsert.catch(() => {}); // a late failure is the retry's to report
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    const late = new Error(`Redis did not take the schedule within ${timeoutMs / 1000} s`);
    timer = setTimeout(() => reject(late), timeoutMs);
  });
  try {
    await Promise.race([upsert, timeout]);
  } finally {
    clearTimeout(timer);
  }
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
      log.info(
        { purged, workspaces: results },
        `retention purge removed ${purged} events older than ${deps.retentionDays} days`,
      );
      return { purged };
    },
    { connection: deps.connection, prefix: deps.prefix, concurrency: 1 },
  );
  logWorkerErrors(worker, deps.logger, 'maintenance worker error');
  return worker;
}
