/** Builds the roles this process runs (api, slack, worker, relay, scheduler) and starts and stops them in order. */
import { createHash } from 'node:crypto';
import type { RetryOptions } from '@slack/web-api';
import type { Worker, WorkerOptions } from 'bullmq';
import type { FastifyInstance } from 'fastify';
import { loadRuleSet, type RuleSet, type RulesWatcher, watchRules } from './alerting/rule-loader.ts';
import { SlackAlertSender } from './alerting/slack-sender.ts';
import { createAlertWorker } from './alerting/worker.ts';
import { ConfigError, type Config } from './config.ts';
import { AuditForwarder, type ForwarderOptions } from './forwarding/forwarder.ts';
import { eventRoutes } from './http/routes/events.ts';
import { healthRoutes } from './http/routes/health.ts';
import { slackRoutes } from './http/routes/slack.ts';
import { createHttpServer } from './http/server.ts';
import type { Logger } from './logger.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { OutboxRelay, outboxLag } from './outbox/relay.ts';
import { createQueues, createRedis, type Queues } from './queue/connection.ts';
import { createSegmentRevertTarget } from './revert/segment.ts';
import { createMaintenanceWorker, scheduleRetention } from './scheduler/retention.ts';
import { createSlackApp, type SlackApp } from './slack/app.ts';
import { createSlackClient } from './slack/client.ts';
import { createExportWorker } from './slack/export-worker.ts';
import { createOwnerCheck } from './slack/owners.ts';
import { knownChannelId } from './store/alerts.ts';
import { createDb, type Database } from './store/db.ts';
import { forwardingLag } from './store/forwarding.ts';
import { registerBootstrapTokens } from './store/tokens.ts';

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
export interface ServiceOptions {
  alertWorker?: Partial<WorkerOptions>;
  /** Minimum gap between two alerts to one channel (default 1000 ms, Slack's posting guidance). */
  slackMinIntervalMs?: number;
  /** WebClient retry policy override (tests use a rapid one). */
  slackRetryConfig?: RetryOptions;
  /** How many events a workspace may have waiting for Postgres before ingest answers 429. */
  appendLimits?: { maxEventsPerGroup?: number; maxWaitingEvents?: number };
  /** Audit forwarding timers and limits (tests use short sweeps and backoffs). */
  forwarding?: Omit<ForwarderOptions, 'trackingUrl' | 'onBatch'>;
}

export function createService(config: Config, logger: Logger, options: ServiceOptions = {}): Service {
  const roles = config.roles;
  const database = createDb(config.databaseUrl);
  const producerRedis = createRedis(config.redisUrl, 'producer', logger);
  const workerRedis = createRedis(config.redisUrl, 'worker');
  const queues = createQueues(producerRedis, config.queuePrefix);
  const metrics = createMetrics();
  const http = createHttpServer(logger, metrics);
  const workers: Worker[] = [];
  let rules: RuleSet | undefined;
  let rulesWatcher: RulesWatcher | undefined;
  const stateRedis = roles.has('worker') ? createRedis(config.redisUrl, 'worker') : undefined;
  let stopping = false;
  const retryTimers: NodeJS.Timeout[] = [];

  metrics.addGauge('audit_queue_jobs', 'Jobs on the audit-events queue by state', ['state'], async () => {
    const counts = await queues.auditEvents.getJobCounts('waiting', 'active', 'delayed', 'failed');
    return Object.entries(counts).map(([state, n]) => [{ state }, n]);
  });
  metrics.addGauge('audit_outbox_pending_events', 'Events stored but not yet on the queue', [], async () => [
    [{}, await outboxLag(database.db)],
  ]);
  metrics.addGauge('audit_forwarding_pending_events', 'Events not yet delivered to Segment, across workspaces with forwarding on', [], async () => [
    [{}, await forwardingLag(database.db)],
  ]);

  void http.register(healthRoutes, { database, redis: producerRedis, metrics });
  if (roles.has('api')) void http.register(eventRoutes, { database, metrics, appendLimits: options.appendLimits });

  const slackEnabled = Boolean(config.slack.botToken);
  let slackApp: SlackApp | undefined;
  // Without a signing secret (and no Socket Mode) there is no way to trust requests: start() refuses.
  if (roles.has('slack') && slackEnabled && (config.slack.appToken || config.slack.signingSecret)) {
    const client = createSlackClient(config.slack.botToken, config.slack.apiUrl, logger);
    slackApp = createSlackApp({
      config,
      logger: logger.child({ role: 'slack' }),
      database,
      owners: createOwnerCheck({ client, owners: config.slack.owners, ownerGroup: config.slack.ownerGroup, logger }),
      exports: queues.exports,
      revertTarget: config.segment.apiToken
        ? createSegmentRevertTarget({ apiUrl: config.segment.apiUrl, apiToken: config.segment.apiToken, logger: logger.child({ component: 'segment' }) })
        : undefined,
    });
    if (slackApp.handleHttp) void http.register(slackRoutes, { handle: slackApp.handleHttp });
  }

  const relay = roles.has('relay')
    ? new OutboxRelay(database.db, database.sql, queues.auditEvents, logger.child({ role: 'relay' }), {
        onRelayed: (n) => metrics.relayedEvents.inc(n),
      })
    : undefined;

  const forwarder = roles.has('worker')
    ? new AuditForwarder(database.db, database.sql, logger.child({ role: 'worker', component: 'forwarding' }), {
        ...options.forwarding,
        trackingUrl: config.segment.trackingUrl,
        onBatch: (outcome, events) => {
          metrics.forwardingBatches.inc({ outcome });
          if (outcome !== 'retried') metrics.forwardedEvents.inc({ outcome }, events);
        },
      })
    : undefined;

  /** Loads the rules (refusing to start on invalid ones), watches them, and starts the alert worker. */
  async function startAlerting(): Promise<void> {
    const log = logger.child({ role: 'worker' });
    rules = await loadRuleSet(config.rulesDir);
    log.info({ rules: rules.current().map((r) => r.id), fingerprint: fingerprint(rules) }, `loaded ${rules.current().length} rules from ${config.rulesDir}`);
    const ruleSet = rules;
    rulesWatcher = watchRules(config.rulesDir, log, (next) => {
      ruleSet.replace(next);
      log.info({ fingerprint: fingerprint(ruleSet) }, 'rule set fingerprint');
    });
    let sender: SlackAlertSender | undefined;
    if (config.slack.botToken) {
      const client = createSlackClient(config.slack.botToken, config.slack.apiUrl, logger, { retryConfig: options.slackRetryConfig });
      sender = new SlackAlertSender(client, log, metrics, {
        minIntervalMs: options.slackMinIntervalMs,
        lookupChannelId: (channel) => knownChannelId(database.db, channel),
        pacing: { redis: stateRedis!, prefix: config.queuePrefix },
      });
      workers.push(
        createExportWorker({ database, client, connection: workerRedis, prefix: config.queuePrefix, logger: log.child({ component: 'export' }) }),
      );
    } else {
      log.warn('SLACK_BOT_TOKEN is not set: alerts are written to the log as the Block Kit payload they would post');
    }
    workers.push(
      createAlertWorker({
        db: database.db,
        connection: workerRedis,
        stateRedis: stateRedis!,
        prefix: config.queuePrefix,
        rules: ruleSet,
        sender,
        revertEnabled: Boolean(config.segment.apiToken),
        logger: log,
        metrics,
        workerOptions: options.alertWorker,
      }),
    );
  }

  return {
    config,
    database,
    queues,
    metrics,
    http,
    async start() {
      if (roles.has('slack') && slackEnabled && !config.slack.appToken && !config.slack.signingSecret) {
        throw new ConfigError(['SLACK_SIGNING_SECRET: required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)']);
      }
      await registerBootstrapTokens(database.db, config.ingestTokens);
      if (relay) await relay.start();
      if (roles.has('scheduler')) {
        // Redis may be down at start: keep trying in the background rather than hold up ingest.
        const schedule = (): Promise<void> =>
          scheduleRetention(queues.maintenance).catch((error: unknown) => {
            logger.warn({ err: error }, 'could not schedule the retention purge yet; retrying in 30 s');
            if (!stopping) retryTimers.push(setTimeout(() => void schedule(), 30_000).unref());
          });
        await schedule();
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
      if (roles.has('slack') && !slackEnabled) {
        logger.warn('SLACK_BOT_TOKEN is not set: /audit and the alert buttons are off (POST /slack/events answers 404)');
      }
      await slackApp?.start();
      if (roles.has('worker')) await startAlerting();
      await forwarder?.start();
      const address = await http.listen({ host: config.host, port: config.port });
      logger.info({ address, roles: [...roles] }, 'audit-trail started');
      return address;
    },
    async stop(timeoutMs = 10_000) {
      stopping = true;
      retryTimers.forEach(clearTimeout);
      rulesWatcher?.close();
      const deadline = new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref());
      const graceful = async () => {
        await http.close();
        await Promise.all([relay?.stop(), forwarder?.stop()]);
        await Promise.all(workers.map((worker) => worker.close()));
      };
      await Promise.race([graceful(), deadline]);
      await slackApp?.stop().catch(() => {});
      await Promise.allSettled([queues.close(), database.close()]);
      producerRedis.disconnect();
      workerRedis.disconnect();
      stateRedis?.disconnect();
    },
  };
}


/** A short hash of the rule set, logged at load and reload, so operators can compare worker processes. */
function fingerprint(rules: RuleSet): string {
  const content = JSON.stringify(rules.current().map(({ file: _file, line: _line, ...rule }) => rule), (_key, value: unknown) =>
    value instanceof RegExp ? value.source : value,
  );
  return createHash('sha256').update(content).digest('hex').slice(0, 12);
}
