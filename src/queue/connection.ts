/** Redis connections and queues for BullMQ. */
import { type DefaultJobOptions, Queue } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../logger.ts';
import {
  type AlertRangeJob,
  AUDIT_EVENTS_QUEUE,
  DIGEST_QUEUE,
  EXPORTS_QUEUE,
  type ExportJob,
  MAINTENANCE_QUEUE,
  REVERT_ALL_QUEUE,
  type RevertAllJob,
} from './names.ts';

/**
 * Workers block on Redis and must retry forever (BullMQ requires maxRetriesPerRequest: null).
 * Producers instead fail fast while Redis is away, so the relay rolls back and tries again later
 * rather than piling commands up in memory.
 */
export function createRedis(url: string, role: 'worker' | 'producer', outages?: Logger): Redis {
  const options: RedisOptions =
    role === 'worker'
      ? { maxRetriesPerRequest: null }
      : { maxRetriesPerRequest: 1, enableOfflineQueue: false, connectTimeout: 2000 };
  const redis = new Redis(url, {
    ...options,
    lazyConnect: false,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  if (outages) reportOutages(redis, redisAddress(url), outages);
  // ioredis reports every failed reconnect: without a listener each one would crash the process.
  else redis.on('error', () => {});
  return redis;
}

/** `host:port` of a Redis URL, for messages: never the user name or password. */
export function redisAddress(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || '6379'}`;
}

/** While Redis is unreachable, one warning this often (ioredis fails a reconnect every 0.2 to 2 s). */
export const OUTAGE_LOG_INTERVAL_MS = 5000;

/**
 * Says that Redis is unreachable, where, and why, at the first failed connection and then every few seconds
 * until it answers again: without this a process whose Redis is down waits silently. One connection per
 * process reports (the service passes a logger to the producer connection only), so it is said once.
 */
function reportOutages(redis: Redis, address: string, logger: Logger): void {
  let downSince: number | undefined;
  let lastWarning = 0;
  redis.on('error', (error: Error & { code?: string }) => {
    const now = Date.now();
    downSince ??= now;
    if (now - lastWarning < OUTAGE_LOG_INTERVAL_MS) return;
    lastWarning = now;
    const seconds = Math.round((now - downSince) / 1000);
    logger.warn(
      { redis: address, error: error.code ?? error.message, downForSeconds: seconds },
      `Redis at ${address} is unreachable (${error.message}); retrying`,
    );
  });
  redis.on('ready', () => {
    if (downSince === undefined) return;
    const downForSeconds = Math.round((Date.now() - downSince) / 1000);
    logger.info({ redis: address, downForSeconds }, `Redis at ${address} is reachable again`);
    downSince = undefined;
    lastWarning = 0;
  });
}

/** Socket-level failures: Redis is away, which the producer connection's outage warnings already say. */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
]);

export function isRedisConnectionError(error: Error & { code?: string }): boolean {
  if (error.code !== undefined && CONNECTION_ERROR_CODES.has(error.code)) return true;
  return error.message === 'Connection is closed.';
}

/**
 * Logs a BullMQ worker's errors, except the failed reconnects it reports every few hundred milliseconds while
 * Redis is down: those are said once every few seconds, with the address, by the outage warnings instead.
 */
export function logWorkerErrors(
  worker: { on(event: 'error', listener: (error: Error) => void): unknown },
  logger: Logger,
  message: string,
): void {
  worker.on('error', (error) => {
    if (!isRedisConnectionError(error)) logger.warn({ err: error }, message);
  });
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
  /** Revert all runs, queued by the click. */
  revertAll: Queue<RevertAllJob>;
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
    defaultJobOptions: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 60_000 },
      removeOnComplete: 30,
      removeOnFail: 30,
    },
  });
  const exports = new Queue<ExportJob>(EXPORTS_QUEUE, {
    connection,
    prefix,
    defaultJobOptions: {
      attempts: 3,
      backoff: { type: 'exponential', delay: 5000 },
      removeOnComplete: { age: 86_400 },
      removeOnFail: { age: 7 * 86_400 },
    },
  });
  const digests = new Queue(DIGEST_QUEUE, { connection, prefix });
  const revertAll = new Queue<RevertAllJob>(REVERT_ALL_QUEUE, {
    connection,
    prefix,
    // A run resumes where it stopped, so retrying one that failed part-way (Postgres away) repeats nothing.
    defaultJobOptions: {
      attempts: 8,
      backoff: { type: 'exponential', delay: 2000 },
      removeOnComplete: { age: 86_400 },
      removeOnFail: { age: 7 * 86_400 },
    },
  });
  const all = [auditEvents, maintenance, exports, digests, revertAll];
  // Errors while Redis is away surface through the calls that fail; the emitter must not crash the process.
  for (const queue of all) queue.on('error', () => {});
  return {
    auditEvents,
    maintenance,
    exports,
    digests,
    revertAll,
    close: async () => {
      await Promise.all(all.map((queue) => queue.close()));
    },
  };
}
