/**
 * The worker role: the alert worker (rules → Slack, or the log without a bot token), the export worker that
 * uploads `/audit export` CSVs, and audit forwarding to Segment.
 */
import { createHash } from 'node:crypto';
import type { Worker, WorkerOptions } from 'bullmq';
import { loadRuleSet, type RuleSet, type RulesWatcher, watchRules } from '../alerting/rule-loader.ts';
import { SlackAlertSender } from '../alerting/slack-sender.ts';
import { createAlertWorker } from '../alerting/worker.ts';
import { AuditForwarder, type ForwarderOptions } from '../forwarding/forwarder.ts';
import { createExportWorker } from '../export/worker.ts';
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
}

export function createWorkerRole(shared: SharedInfrastructure, options: WorkerRoleOptions = {}): Role {
  const { config, database, metrics } = shared;
  const log = shared.logger.child({ role: 'worker' });
  const workers: Worker[] = [];
  let rulesWatcher: RulesWatcher | undefined;

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
    const rules = await loadRuleSet(config.rulesDir);
    const ids = rules.current().map((r) => r.id);
    log.info({ rules: ids, fingerprint: fingerprint(rules) }, `loaded ${ids.length} rules from ${config.rulesDir}`);
    rulesWatcher = watchRules(config.rulesDir, log, (next) => {
      rules.replace(next);
      log.info({ fingerprint: fingerprint(rules) }, 'rule set fingerprint');
    });
    const connection = shared.redis('bullmq');
    const stateRedis = shared.redis('rule-state');
    const client = shared.slackClient();
    let sender: SlackAlertSender | undefined;
    if (client) {
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
        logger: log,
        metrics,
        workerOptions: options.alertWorker,
        alertLeaseMs: options.alertLeaseMs,
      }),
    );
  }

  return {
    async start() {
      await startAlerting();
      await forwarder.start();
    },
    async stop() {
      rulesWatcher?.close();
      await forwarder.stop();
      await Promise.all(workers.map((worker) => worker.close()));
    },
  };
}

/** A short hash of the rule set, logged at load and reload, so operators can compare worker processes. */
function fingerprint(rules: RuleSet): string {
  const content = JSON.stringify(
    rules.current().map(({ file: _file, line: _line, ...rule }) => rule),
    (_key, value: unknown) => (value instanceof RegExp ? value.source : value),
  );
  return createHash('sha256').update(content).digest('hex').slice(0, 12);
}
