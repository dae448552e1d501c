/** Redis connections and queues for BullMQ. */
import { Queue, type DefaultJobOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import {
  AUDIT_EVENTS_QUEUE,
  type AlertRangeJob,
  DIGEST_QUEUE,
  EXPORTS_QUEUE,
  type ExportJob,
  MAINTENANCE_QUEUE,
} from './names.ts';

/**
 * Workers block on Redis and must retry forever (BullMQ requires maxRetriesPerRequest: null).
 * Producers instead fail fast while Redis is away, so the relay rolls back and tries again later
 * rather than piling commands up in memory.
 */
export function createRedis(url: string, role: 'worker' | 'producer'): Redis {
  const options: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 };
  const redis = new Redis(url, { ...options, lazyConnect: false, retryStrategy: (times) => Math.min(times * 200, 2000) });
  // ioredis reports every failed reconnect; the relay and /readyz say what matters, so keep this quiet.
  redis.on('error', () => {});
  return redis;
}

export const auditEventJobOptions: DefaultJobOptions = {
  // An alert is never dropped for a passing outage: 20 exponential attempts span about six days.
  attempts: 20,
  backoff: { type: 'exponential', delay: 500 },
  // Completed jobs are kept a while so a range offered again (a relay crash after the add) is recognised as a repeat;
  // one job per committed range, so few.
  removeOnComplete: { age: 24 * 3600, count: 20_000 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

export interface Queues {
  auditEvents: Queue<AlertRangeJob>;
  maintenance: Queue;
  /** `/audit export` jobs; the export worker builds and uploads the CSV. */
  exports: Queue<ExportJob>;
  /** The daily signed chain digest (its job options are set by the job scheduler). */
  digests: Queue;
  close(): Promise<void>;
}

export function createQueues(connection: Redis, prefix: string): Queues {
  const auditEvents = new Queue<AlertRangeJob>(AUDIT_EVENTS_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: auditEventJobOptions,
  });
  const maintenance = new Queue(MAINTENANCE_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: { attempts: 3, backoff: { type: 'exponential', delay: 60_000 }, removeOnComplete: 30, removeOnFail: 30 },
  });
  const exports = new Queue<ExportJob>(EXPORTS_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: { attempts: 3, backoff: { type: 'exponential', delay: 5000 }, removeOnComplete: { age: 86_400 }, removeOnFail: { age: 7 * 86_400 } },
  });
  const digests = new Queue(DIGEST_QUEUE, { connection, prefix });
  const all = [auditEvents, maintenance, exports, digests];
  // Errors while Redis is away surface through the calls that fail; the emitter must not crash the process.
  for (const queue of all) queue.on('error', () => {});
  return {
    auditEvents,
    maintenance,
    exports,
    digests,
    close: async () => {
      await Promise.all(all.map((queue) => queue.close()));
    },
  };
}
