/** Builds the roles this process runs (api, slack, worker, relay, scheduler) and starts and stops them in order. */
import type { Worker } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { Config } from './config.ts';
import { healthRoutes } from './http/routes/health.ts';
import { eventRoutes } from './http/routes/events.ts';
import { createHttpServer } from './http/server.ts';
import type { Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { OutboxRelay, outboxLag } from './outbox/relay.ts';
import { createQueues, createRedis, type Queues } from './queue/connection.ts';
import { createMaintenanceWorker, scheduleRetention } from './scheduler/retention.ts';
import { createDb, type Database } from './store/db.ts';
import { registerBootstrapTokens } from './store/tokens.ts';

export interface Service {
  config: Config;
  database: Database;
  queues: Queues;
  metrics: Metrics;
  http: FastifyInstance;
  relay?: OutboxRelay;
  /** Starts every role; resolves with the HTTP base URL once it listens. */
  start(): Promise<string>;
  /** Stops taking requests, finishes in-flight work within `timeoutMs`, closes pools. */
  stop(timeoutMs?: number): Promise<void>;
}

export function createService(config: Config, logger: Logger): Service {
  const roles = config.roles;
  const database = createDb(config.databaseUrl);
  const producerRedis = createRedis(config.redisUrl, 'producer');
  const workerRedis = createRedis(config.redisUrl, 'worker');
  const queues = createQueues(producerRedis, config.queuePrefix);
  const metrics = createMetrics();
  const http = createHttpServer(logger, metrics);
  const workers: Worker[] = [];

  metrics.addGauge('audit_queue_jobs', 'Jobs on the audit-events queue by state', ['state'], async () => {
    const counts = await queues.auditEvents.getJobCounts('waiting', 'active', 'delayed', 'failed');
    return Object.entries(counts).map(([state, n]) => [{ state }, n]);
  });
  metrics.addGauge('audit_outbox_pending_events', 'Events stored but not yet on the queue', [], async () => [
    [{}, await outboxLag(database.db)],
  ]);

  void http.register(healthRoutes, { database, redis: producerRedis, metrics });
  if (roles.has('api')) void http.register(eventRoutes, { database, metrics });

  const relay = roles.has('relay')
    ? new OutboxRelay(database.db, database.sql, queues.auditEvents, logger.child({ role: 'relay' }), {
        onRelayed: (n) => metrics.relayedEvents.inc(n),
      })
    : undefined;

  return {
    config,
    database,
    queues,
    metrics,
    http,
    relay,
    async start() {
      await registerBootstrapTokens(database.db, config.ingestTokens);
      if (relay) await relay.start();
      if (roles.has('scheduler')) {
        await scheduleRetention(queues.maintenance).catch((error: unknown) =>
          // Redis may be down at start; the next start (or replica) schedules it, and ingest must not wait.
          logger.warn({ err: error }, 'could not schedule the retention purge yet'),
        );
        workers.push(
          createMaintenanceWorker({
            db: database.db,
            connection: workerRedis,
            prefix: config.queuePrefix,
            retentionDays: config.retentionDays,
            logger: logger.child({ role: 'scheduler' }),
          }),
        );
      }
      const address = await http.listen({ host: config.host, port: config.port });
      logger.info({ address, roles: [...roles] }, 'audit-trail started');
      return address;
    },
    async stop(timeoutMs = 10_000) {
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
      const graceful = async () => {
        await http.close();
        await relay?.stop();
        await Promise.all(workers.map((worker) => worker.close()));
      };
      await Promise.race([graceful(), deadline]);
      await Promise.allSettled([queues.close(), database.close()]);
      producerRedis.disconnect();
      workerRedis.disconnect();
    },
  };
}

export type { Redis };
