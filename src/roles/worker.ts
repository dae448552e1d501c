/**
 * The worker role: the alert worker (rules → Slack, or the log without a bot token), the summaries of ended
 * silences, the export worker that uploads `/audit export` CSVs, and audit forwarding to Segment.
 */
import type { Worker, WorkerOptions } from 'bullmq';
import type { StoredEvent } from '../events.ts';
import {
  createSilenceSummaries,
  type SilenceSummaries,
  type SilenceSummaryOptions,
} from '../alerting/silence-summaries.ts';
import { SlackAlertSender } from '../alerting/slack-sender.ts';
import { createAlertWorker } from '../alerting/worker.ts';
import { AuditForwarder, type ForwarderOptions } from '../forwarding/forwarder.ts';
import { createExportWorker } from '../export/worker.ts';
import type { AlertDetails } from '../slack/blocks/alert.ts';
import { resourceUrl } from '../slack/resource-links.ts';
import { createSlackUserLookup, type SlackUserLookupOptions } from '../slack/user-lookup.ts';
import { knownChannelId } from '../store/alerts.ts';
import type { Role, SharedInfrastructure } from './role.ts';

export interface WorkerRoleOptions {
  alertWorker?: Partial<WorkerOptions>;
  /** How long a worker's claim on an alert lasts unless renewed (crash tests use a short one). */
  alertLeaseMs?: number;
  /** Minimum gap between two alerts to one channel (default 1000 ms, Slack's posting guidance). */
  slackMinIntervalMs?: number;
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

  const forwarder = new AuditForwarder(database.db, database.sql, log.child({ component: 'forwarding' }), {
    ...options.forwarding,
    trackingUrl: config.segment.trackingUrl,
    onBatch: (outcome, events) => {
      metrics.forwardingBatches.inc({ outcome });
      if (outcome !== 'retried') metrics.forwardedEvents.inc({ outcome }, events);
    },
  });

  /** Loads the rules (refusing to start on invalid ones), watches them, and starts the alert and export workers. */
  async function startAlerting(): Promise<void> {
    const rules = await shared.rules();
    const connection = shared.redis('bullmq');
    const stateRedis = shared.redis('rule-state');
    const client = shared.slackClient();
    let sender: SlackAlertSender | undefined;
    let alertDetails: ((event: StoredEvent) => Promise<AlertDetails>) | undefined;
    if (client) {
      const users = createSlackUserLookup({ client, logger: log, ...options.userLookup });
      alertDetails = async (event) => ({
        actorSlackUserId: event.actor.email ? await users.slackUserFor(event.actor.email) : undefined,
        resourceUrl: resourceUrl(config.resourceUrls, event.resource),
      });
      sender = new SlackAlertSender(client, log, metrics, {
        minIntervalMs: options.slackMinIntervalMs,
        lookupChannelId: (channel) => knownChannelId(database.db, channel),
        pacing: { redis: stateRedis, prefix: config.queuePrefix },
      });
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
        sender,
        revertEnabled: Boolean(config.segment.apiToken),
        alertDetails,
        alertMaxAgeMs: config.alertMaxAgeMs,
        logger: log,
        metrics,
        workerOptions: options.alertWorker,
        alertLeaseMs: options.alertLeaseMs,
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
    },
  };
}
