/** The alert worker: consumes audit-events, applies the rules, and posts each alert exactly once. */
import { UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { StoredEvent } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { AUDIT_EVENTS_QUEUE, auditEventJobSchema, type AuditEventJob } from '../queue/names.ts';
import { logWorkerErrors } from '../queue/connection.ts';
import { type AlertDetails, buildAlertMessage } from '../slack/blocks/alert.ts';
import { claimAlert, markAlertFailed, markAlertLogged, markAlertSent, recordAlertError } from '../store/alerts.ts';
import type { Db } from '../store/db.ts';
import { getEvent } from '../store/queries.ts';
import { groupKey, matchRule } from './match.ts';
import { skipTooOldToAlert } from './max-age.ts';
import type { RuleSet } from './rule-loader.ts';
import type { Rule } from './rules/types.ts';
import { holdBackIfSilenced } from './silences.ts';
import { PermanentSlackError, type SlackAlertSender } from './slack-sender.ts';
import { acquireThrottle, recordThresholdMatch } from './window-state.ts';

export interface AlertWorkerDeps {
  db: Db;
  /** The BullMQ worker's connection (blocking commands). */
  connection: Redis;
  /** Threshold and throttle state. */
  stateRedis: Redis;
  prefix: string;
  rules: RuleSet;
  /** Undefined without SLACK_BOT_TOKEN: alerts are written to the log. */
  sender: SlackAlertSender | undefined;
  revertEnabled: boolean;
  /** What makes an alert easier to read (the actor's Slack mention, an "Open" link), found just before posting. */
  alertDetails?: (event: StoredEvent) => Promise<AlertDetails>;
  /** ALERT_MAX_AGE in milliseconds. */
  alertMaxAgeMs: number;
  logger: Logger;
  metrics: Metrics;
  workerOptions?: Partial<WorkerOptions>;
}

export function createAlertWorker(deps: AlertWorkerDeps): Worker<AuditEventJob> {
  const statePrefix = `${deps.prefix}:rule-state:`;

  async function alertFor(rule: Rule, event: StoredEvent, log: Logger): Promise<void> {
    if (rule.threshold) {
      const { count, withinMs, by } = rule.threshold;
      const fired = await recordThresholdMatch(deps.stateRedis, statePrefix, rule.id, groupKey(by, event), event.id, Date.parse(event.timestamp), withinMs, count);
      if (!fired) {
        deps.metrics.alerts.inc({ rule: rule.id, outcome: 'below_threshold' });
        return;
      }
    }
    if (rule.throttle) {
      const allowed = await acquireThrottle(deps.stateRedis, statePrefix, rule.id, groupKey(rule.throttle.by, event), event.id, rule.throttle.withinMs);
      if (!allowed) {
        log.debug('alert throttled');
        deps.metrics.alerts.inc({ rule: rule.id, outcome: 'throttled' });
        return;
      }
    }
    // Silences: after threshold and throttle (their state has advanced), before anything is posted.
    if (await holdBackIfSilenced(deps, rule, event, log)) return;
    const key = { workspaceId: event.workspaceId, eventId: event.id, ruleId: rule.id };
    const { row, fresh } = await claimAlert(deps.db, { ...key, channel: rule.channel });
    if (row.status !== 'pending') return; // sent, logged or permanently failed by an earlier attempt
    const details = await deps.alertDetails?.(event);
    const message = buildAlertMessage({ event, rule, revertEnabled: deps.revertEnabled, ...details });

    if (!deps.sender) {
      log.warn({ channel: rule.channel, alert: { channel: rule.channel, ...message } }, 'alert (SLACK_BOT_TOKEN is not set, so it was not posted)');
      await markAlertLogged(deps.db, key);
      deps.metrics.alerts.inc({ rule: rule.id, outcome: 'logged' });
      return;
    }
    if (!fresh) {
      // An earlier attempt may have posted and died before recording it: look before posting again.
      const found = await deps.sender.findPosted(rule.channel, key, row.createdAt.getTime()).catch((error: unknown) => {
        log.warn({ err: error }, 'could not check the channel for an earlier post; posting');
        return undefined;
      });
      if (found) {
        await markAlertSent(deps.db, key, found);
        deps.metrics.alerts.inc({ rule: rule.id, outcome: 'posted' });
        log.info({ channel: rule.channel, ts: found.ts }, 'alert was already in the channel; recorded it');
        return;
      }
    }
    try {
      const posted = await deps.sender.post(rule.channel, message, [Date.parse(event.receivedAt), event.seq]);
      await markAlertSent(deps.db, key, posted);
      deps.metrics.alerts.inc({ rule: rule.id, outcome: 'posted' });
      deps.metrics.alertLatency.observe({ severity: rule.severity }, (Date.now() - Date.parse(event.receivedAt)) / 1000);
      log.info({ channel: rule.channel, ts: posted.ts }, 'alert posted');
    } catch (error) {
      if (error instanceof PermanentSlackError) {
        await markAlertFailed(deps.db, key, error.code);
        deps.metrics.alerts.inc({ rule: rule.id, outcome: 'failed' });
        log.error({ channel: rule.channel, error: error.code }, `alert not posted: Slack answered ${error.code}; it will not be retried`);
        return;
      }
      await recordAlertError(deps.db, key, (error as Error).message ?? String(error));
      deps.metrics.alerts.inc({ rule: rule.id, outcome: 'retried' });
      throw error;
    }
  }

  const worker = new Worker<AuditEventJob>(
    AUDIT_EVENTS_QUEUE,
    async (job) => {
      const parsed = auditEventJobSchema.safeParse(job.data);
      // A payload this code cannot read will not become readable on a retry.
      if (!parsed.success) throw new UnrecoverableError(`invalid audit-event job payload: ${parsed.error.message}`);
      const { workspaceId, eventId } = parsed.data;
      const log = deps.logger.child({ jobId: job.id, workspaceId, eventId });
      const event = await getEvent(deps.db, workspaceId, eventId);
      if (!event) {
        log.warn('event is no longer stored (purged?); nothing to alert');
        return;
      }
      if (skipTooOldToAlert(event, deps, log)) return;
      const failures: unknown[] = [];
      for (const rule of deps.rules.current()) {
        if (!matchRule(rule, event)) continue;
        // One rule's failure must not stop the others; the job is retried and finished rules are skipped.
        await alertFor(rule, event, log.child({ ruleId: rule.id })).catch((error: unknown) => failures.push(error));
      }
      if (failures.length) throw failures[0];
    },
    {
      connection: deps.connection,
      prefix: deps.prefix,
      concurrency: 16,
      maxStalledCount: 5,
      ...deps.workerOptions,
    },
  );
  worker.on('failed', (job, error) => {
    deps.logger.warn({ jobId: job?.id, attempts: job?.attemptsMade, err: error }, 'alert job failed; BullMQ will retry it');
  });
  logWorkerErrors(worker, deps.logger, 'alert worker error');
  return worker;
}
