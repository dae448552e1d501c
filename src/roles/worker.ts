/**
 * The worker role: the alert worker (rules → the dispatcher, which posts to Slack; or the log without a bot token), the
 * Revert all worker, the summaries of ended silences, the export worker that uploads `/audit export` CSVs, and audit
 * forwarding to Segment.
 */
import type { Worker, WorkerOptions } from 'bullmq';
import { AlertDispatcher, type DispatchOptions } from '../alerting/dispatch.ts';
import { queueEvaluationGate } from '../alerting/ordering.ts';
import {
  createSilenceSummaries,
  type SilenceSummaries,
  type SilenceSummaryOptions,
} from '../alerting/silence-summaries.ts';
import { SlackAlertSender } from '../alerting/slack-sender.ts';
import { createAlertWorker } from '../alerting/worker.ts';
import { createExportWorker } from '../export/worker.ts';
import { AuditForwarder, type ForwarderOptions } from '../forwarding/forwarder.ts';
import { createRevertAllWorker } from '../revert/revert-all.ts';
import { createSegmentRevertTarget } from '../revert/segment.ts';
import { buildAlertMessage } from '../slack/blocks/alert.ts';
import { buildGroupedAlertMessage } from '../slack/blocks/grouped-alert.ts';
import { resourceUrl } from '../slack/resource-links.ts';
import { createSlackUserLookup, type SlackUserLookupOptions, slackUsersOf } from '../slack/user-lookup.ts';
import { knownChannelId } from '../store/alerts.ts';
import type { Role, SharedInfrastructure } from './role.ts';

export interface WorkerRoleOptions {
  alertWorker?: Partial<WorkerOptions>;
  /** How long a worker's claim on an alert lasts (crash tests use a short one). */
  alertLeaseMs?: number;
  /** Minimum gap between two alerts to one channel (default 1000 ms, Slack's posting guidance). */
  slackMinIntervalMs?: number;
  /** Minimum gap between two chat.update calls (default 1200 ms: Slack's Tier 3, about 50 a minute). */
  slackUpdateIntervalMs?: number;
  /** Leases, sweeps and storm windows of the alert dispatcher (tests use short ones). */
  dispatch?: DispatchOptions;
  revertAllWorker?: Partial<WorkerOptions>;
  /** How long a Revert all attempt's hold on its run lasts unless renewed (crash tests use a short one). */
  revertAllLeaseMs?: number;
  /** Audit forwarding timers and limits (tests use short sweeps and backoffs). */
  forwarding?: Omit<ForwarderOptions, 'trackingUrl' | 'onBatch'>;
  /** Silence summaries: how often to look for ended silences (tests use a short interval). */
  silenceSummaries?: SilenceSummaryOptions;
  /** The actor mention's users.lookupByEmail cache and wait. */
  userLookup?: Omit<SlackUserLookupOptions, 'client' | 'logger'>;
}

export function createWorkerRole(shared: SharedInfrastructure, options: WorkerRoleOptions = {}): Role {
  const { config, database, metrics } = shared;
  const log = shared.logger.child({ role: 'worker' });
  metrics.alertsSkipped.inc({ reason: 'too_old' }, 0); // on /metrics from the start
  const workers: Worker[] = [];
  let summaries: SilenceSummaries | undefined;
  let dispatcher: AlertDispatcher | undefined;

  const forwarder = new AuditForwarder(database.db, database.sql, log.child({ component: 'forwarding' }), {
    ...options.forwarding,
    trackingUrl: config.segment.trackingUrl,
    onBatch: (outcome, events) => {
      metrics.forwardingBatches.inc({ outcome });
      if (outcome !== 'retried') metrics.forwardedEvents.inc({ outcome }, events);
    },
  });

  /** Loads the rules (refusing to start on invalid ones), then starts the dispatcher and the workers. */
  async function startAlerting(): Promise<void> {
    const rules = await shared.rules();
    const connection = shared.redis('bullmq');
    const stateRedis = shared.redis('rule-state');
    const client = shared.slackClient();
    const revertEnabled = Boolean(config.segment.apiToken);
    if (client) {
      const users = createSlackUserLookup({ client, logger: log, ...options.userLookup });
      const sender = new SlackAlertSender(client, log, metrics, {
        minIntervalMs: options.slackMinIntervalMs,
        updateIntervalMs: options.slackUpdateIntervalMs,
        lookupChannelId: (channel) => knownChannelId(database.db, channel),
        pacing: { redis: stateRedis, prefix: config.queuePrefix },
      });
      dispatcher = new AlertDispatcher({
        db: database.db,
        sql: database.sql,
        redis: stateRedis,
        prefix: config.queuePrefix,
        sender,
        rules,
        revertEnabled,
        gate: queueEvaluationGate(shared.queues.auditEvents, database.db, rules),
        // What makes a single alert easier to read (the actor's Slack mention, an "Open" link), found just before it
        // is posted: the lookup never holds the post for more than a moment.
        alertMessage: async (event, rule) =>
          buildAlertMessage({
            event,
            rule,
            revertEnabled,
            actorSlackUserId: event.actor.email ? await users.slackUserFor(event.actor.email) : undefined,
            resourceUrl: resourceUrl(config.resourceUrls, event.resource),
          }),
        // The same mention for the actors a grouped message shows, looked up side by side, each as briefly.
        groupedAlertMessage: async (summary, rule) =>
          buildGroupedAlertMessage({
            summary,
            rule,
            revertEnabled,
            actorSlackUserIds: await slackUsersOf(users, summary.actors),
          }),
        logger: log,
        metrics,
        options: options.dispatch,
      });
      await dispatcher.start();
      const exportLog = log.child({ component: 'export' });
      workers.push(createExportWorker({ database, client, connection, prefix: config.queuePrefix, logger: exportLog }));
    } else {
      log.warn('SLACK_BOT_TOKEN is not set: alerts are written to the log as the Block Kit payload they would post');
    }
    workers.push(
      createAlertWorker({
        db: database.db,
        connection,
        stateRedis,
        prefix: config.queuePrefix,
        rules,
        dispatcher,
        revertEnabled,
        alertMaxAgeMs: config.alertMaxAgeMs,
        logger: log,
        metrics,
        workerOptions: options.alertWorker,
        alertLeaseMs: options.alertLeaseMs,
      }),
    );
    const { apiUrl, apiToken } = config.segment;
    workers.push(
      createRevertAllWorker({
        db: database.db,
        target: apiToken
          ? createSegmentRevertTarget({ apiUrl, apiToken, logger: log.child({ component: 'segment' }) })
          : undefined,
        logger: log.child({ component: 'revert-all' }),
        metrics,
        connection,
        prefix: config.queuePrefix,
        workerOptions: options.revertAllWorker,
        leaseMs: options.revertAllLeaseMs,
      }),
    );
    const summaryOptions = options.silenceSummaries;
    summaries = createSilenceSummaries({ db: database.db, client, rules, logger: log, options: summaryOptions });
    summaries.start();
  }

  return {
    async start() {
      await startAlerting();
      await forwarder.start();
    },
    async stop() {
      await forwarder.stop();
      await Promise.all([...workers.map((worker) => worker.close()), summaries?.stop()]);
      // After the alert worker: nothing queues alerts any more, and the post under way is finished and recorded.
      await dispatcher?.stop();
    },
  };
}
