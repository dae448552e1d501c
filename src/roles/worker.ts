/**
 * The worker role: the alert worker (rules → the dispatcher, which posts to Slack; or the log without a bot token), the
 * Revert all worker, the export worker that uploads `/audit export` CSVs, and audit forwarding to Segment.
 */
import { createHash } from 'node:crypto';
import type { Worker, WorkerOptions } from 'bullmq';
import { loadRuleSet, type RuleSet, type RulesWatcher, watchRules } from '../alerting/rule-loader.ts';
import { AlertDispatcher, type DispatchOptions } from '../alerting/dispatch.ts';
import { queueEvaluationGate } from '../alerting/ordering.ts';
import { SlackAlertSender } from '../alerting/slack-sender.ts';
import { createAlertWorker } from '../alerting/worker.ts';
import { createRevertAllWorker } from '../revert/revert-all.ts';
import { createSegmentRevertTarget } from '../revert/segment.ts';
import { AuditForwarder, type ForwarderOptions } from '../forwarding/forwarder.ts';
import { createExportWorker } from '../export/worker.ts';
import { knownChannelId } from '../store/alerts.ts';
import type { Role, SharedInfrastructure } from './role.ts';

export interface WorkerRoleOptions {
  alertWorker?: Partial<WorkerOptions>;
  /** Minimum gap between two alerts to one channel (default 1000 ms, Slack's posting guidance). */
  slackMinIntervalMs?: number;
  /** Minimum gap between two chat.update calls (default 1200 ms: Slack's Tier 3, about 50 a minute). */
  slackUpdateIntervalMs?: number;
  /** Leases, sweeps and storm windows of the alert dispatcher (tests use short ones). */
  dispatch?: DispatchOptions;
  revertAllWorker?: Partial<WorkerOptions>;
  /** Audit forwarding timers and limits (tests use short sweeps and backoffs). */
  forwarding?: Omit<ForwarderOptions, 'trackingUrl' | 'onBatch'>;
}

export function createWorkerRole(shared: SharedInfrastructure, options: WorkerRoleOptions = {}): Role {
  const { config, database, metrics } = shared;
  const log = shared.logger.child({ role: 'worker' });
  const workers: Worker[] = [];
  let rulesWatcher: RulesWatcher | undefined;
  let dispatcher: AlertDispatcher | undefined;

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
    if (client) {
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
        revertEnabled: Boolean(config.segment.apiToken),
        gate: queueEvaluationGate(shared.queues.auditEvents, database.db, rules),
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
        revertEnabled: Boolean(config.segment.apiToken),
        logger: log,
        metrics,
        workerOptions: options.alertWorker,
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
      // After the alert worker: nothing queues alerts any more, and the post under way is finished and recorded.
      await dispatcher?.stop();
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
