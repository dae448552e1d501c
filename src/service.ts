/**
 * The service: builds what the roles share (database, Redis, queues, metrics, the HTTP server with its health
 * routes, the Slack client), then starts the roles in ROLES in a fixed order and stops them in reverse.
 */
import type { RetryOptions, WebClient } from '@slack/web-api';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { RuleSet } from './alerting/rule-loader.ts';
import { loadRulesInForce, type RulesInForce } from './alerting/rules-in-force.ts';
import type { Config, RoleName } from './config.ts';
import { healthRoutes } from './http/routes/health.ts';
import { createHttpServer } from './http/server.ts';
import type { Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { createQueues, createRedis, type Queues } from './queue/connection.ts';
import { type ApiRoleOptions, createApiRole } from './roles/api.ts';
import { createRelayRole, type RelayRoleOptions } from './roles/relay.ts';
import type { Role, SharedInfrastructure } from './roles/role.ts';
import { createSchedulerRole, type SchedulerRoleOptions } from './roles/scheduler.ts';
import { createSlackRole, type SlackRoleOptions } from './roles/slack.ts';
import { createWorkerRole, type WorkerRoleOptions } from './roles/worker.ts';
import { createSlackClient } from './slack/client.ts';
import { alertLag } from './store/alert-progress.ts';
import { outboxLag } from './store/cursors.ts';
import { createDb, type Database } from './store/db.ts';
import { forwardingLag } from './store/forwarding.ts';

export interface Service {
  config: Config;
  database: Database;
  queues: Queues;
  metrics: Metrics;
  http: FastifyInstance;
  /** Starts every role; resolves with the HTTP base URL once it listens. */
  start(): Promise<string>;
  /** Stops taking requests, finishes in-flight work within `timeoutMs`, closes pools. */
  stop(timeoutMs?: number): Promise<void>;
}

/** Knobs for tests and benchmarks; production uses the defaults. */
export interface ServiceOptions
  extends ApiRoleOptions,
    RelayRoleOptions,
    WorkerRoleOptions,
    SchedulerRoleOptions,
    SlackRoleOptions {
  /** WebClient retry policy override (tests use a rapid one). */
  slackRetryConfig?: RetryOptions;
}

/**
 * Start order. Every hand-off between roles goes through Postgres or Redis, so any order is correct; this one
 * starts the roles that only read config before the worker, whose rule loading is what most often refuses to start.
 * The HTTP server listens once all have started; stop runs in reverse, after the server stops taking requests.
 */
const START_ORDER: readonly RoleName[] = ['api', 'relay', 'scheduler', 'slack', 'worker'];

export function createService(config: Config, logger: Logger, options: ServiceOptions = {}): Service {
  const database = createDb(config.databaseUrl);
  const producerRedis = createRedis(config.redisUrl, 'producer', logger);
  const queues = createQueues(producerRedis, config.queuePrefix);
  const metrics = createMetrics();
  const http = createHttpServer(logger, metrics);
  const consumerRedis = new Map<string, Redis>();
  let slackClient: WebClient | undefined;
  let rulesInForce: Promise<RulesInForce> | undefined;

  metrics.addGauge('audit_queue_jobs', 'Jobs on the audit-events queue by state', ['state'], async () => {
    const counts = await queues.auditEvents.getJobCounts('waiting', 'active', 'delayed', 'failed');
    return Object.entries(counts).map(([state, n]) => [{ state }, n]);
  });
  metrics.addGauge('audit_outbox_pending_events', 'Events stored but not yet on the queue', [], async () => [
    [{}, await outboxLag(database.db)],
  ]);
  const alertHelp = 'Events stored but not yet through the alert rules (above the alert watermark kept in Postgres)';
  metrics.addGauge('audit_alert_pending_events', alertHelp, [], async () => [[{}, await alertLag(database.db)]]);
  const forwardingHelp = 'Events not yet delivered to Segment, across workspaces with forwarding on';
  metrics.addGauge('audit_forwarding_pending_events', forwardingHelp, [], async () => [
    [{}, await forwardingLag(database.db)],
  ]);
  void http.register(healthRoutes, { database, redis: producerRedis, metrics });

  const shared: SharedInfrastructure = {
    config,
    logger,
    database,
    queues,
    producerRedis,
    metrics,
    http,
    redis(purpose) {
      const made = consumerRedis.get(purpose);
      if (made) return made;
      const redis = createRedis(config.redisUrl, 'worker');
      consumerRedis.set(purpose, redis);
      return redis;
    },
    slackClient() {
      if (!config.slack.botToken) return undefined;
      slackClient ??= createSlackClient(config.slack.botToken, config.slack.apiUrl, logger, {
        retryConfig: options.slackRetryConfig,
      });
      return slackClient;
    },
    async rules(): Promise<RuleSet> {
      rulesInForce ??= loadRulesInForce(config.rulesDir, logger, metrics);
      return (await rulesInForce).rules;
    },
  };
  const factories: Record<RoleName, () => Role> = {
    api: () => createApiRole(shared, options),
    relay: () => createRelayRole(shared, options),
    scheduler: () => createSchedulerRole(shared, options),
    slack: () => createSlackRole(shared, options),
    worker: () => createWorkerRole(shared, options),
  };
  const roles = START_ORDER.filter((name) => config.roles.has(name)).map((name) => ({ name, role: factories[name]() }));
  /** Roles whose start() was called, even if it failed part-way: stop() stops these. */
  const begun: typeof roles = [];

  return {
    config,
    database,
    queues,
    metrics,
    http,
    async start() {
      for (const entry of roles) {
        begun.push(entry);
        await entry.role.start();
      }
      const address = await http.listen({ host: config.host, port: config.port });
      logger.info({ address, roles: [...config.roles] }, 'audit-trail started');
      return address;
    },
    async stop(timeoutMs = 10_000) {
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
      const graceful = async () => {
        await http.close();
        for (const { name, role } of [...begun].reverse()) {
          await role.stop().catch((error: unknown) => logger.warn({ err: error, role: name }, 'role stop failed'));
        }
      };
      await Promise.race([graceful(), deadline]);
      (await rulesInForce?.catch(() => undefined))?.close();
      await Promise.allSettled([queues.close(), database.close()]);
      producerRedis.disconnect();
      for (const redis of consumerRedis.values()) redis.disconnect();
    },
  };
}
