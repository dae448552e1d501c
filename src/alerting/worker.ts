/**
 * The alert worker: takes a committed range of a workspace's events off the alert queue, applies the rules to each
 * event, posts each alert exactly once, and records the range as alerted in Postgres.
 */
import { UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { StoredEvent } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { logWorkerErrors } from '../queue/connection.ts';
import { AUDIT_EVENTS_QUEUE, type AlertRangeJob, alertJobRange } from '../queue/names.ts';
import { type AlertDetails, buildAlertMessage } from '../slack/blocks/alert.ts';
import {
  ALERT_LEASE_MS,
  type AlertKey,
  claimAlert,
  markAlertFailed,
  markAlertLogged,
  markAlertSent,
  recordAlertError,
  renewAlertLease,
} from '../store/alerts.ts';
import { recordRangeAlerted } from '../store/alert-progress.ts';
import type { Db } from '../store/db.ts';
import type { AlertRow } from '../store/schema/index.ts';
import { eventsInRange } from '../store/queries.ts';
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
  /** How long a claim on an alert lasts unless renewed (default ALERT_LEASE_MS; crash tests use less). */
  alertLeaseMs?: number;
}

export function createAlertWorker(deps: AlertWorkerDeps): Worker<AlertRangeJob> {
  const statePrefix = `${deps.prefix}:rule-state:`;

  /**
   * Stage 1, one event: the rules it alerts for, in rule order (those whose `when` matches and whose threshold and
   * throttle let it through). A range's events go through here one at a time in seq order, so window state counts them
   * in the order they were stored. A check that holds an alert back belongs here, before anything is claimed or posted.
   * One rule's failure does not stop the others; it is returned and the job retried (window state is idempotent per
   * event, so a retry gets the same answers).
   */
  async function rulesToAlert(event: StoredEvent, log: Logger): Promise<{ rules: Rule[]; failures: unknown[] }> {
    const rules: Rule[] = [];
    const failures: unknown[] = [];
    for (const rule of deps.rules.current()) {
      if (!matchRule(rule, event)) continue;
      const allowed = await windowsAllow(rule, event, log)
        // Silences: after threshold and throttle (their state has advanced), before anything is claimed or posted.
        .then(async (open) => open && !(await holdBackIfSilenced(deps, rule, event, log.child({ ruleId: rule.id }))))
        .catch((error: unknown) => {
          failures.push(error);
          return false;
        });
      if (allowed) rules.push(rule);
    }
    return { rules, failures };
  }

  /** Whether the rule's threshold (if any) fires on this event and its throttle (if any) lets it through. */
  async function windowsAllow(rule: Rule, event: StoredEvent, log: Logger): Promise<boolean> {
    if (rule.threshold) {
      const { count, withinMs, by } = rule.threshold;
      const fired = await recordThresholdMatch(deps.stateRedis, statePrefix, rule.id, groupKey(by, event), event.id, Date.parse(event.timestamp), withinMs, count);
      if (!fired) {
        deps.metrics.alerts.inc({ rule: rule.id, outcome: 'below_threshold' });
        return false;
      }
    }
    if (rule.throttle) {
      const allowed = await acquireThrottle(deps.stateRedis, statePrefix, rule.id, groupKey(rule.throttle.by, event), event.id, rule.throttle.withinMs);
      if (!allowed) {
        log.debug({ eventId: event.id, ruleId: rule.id }, 'alert throttled');
        deps.metrics.alerts.inc({ rule: rule.id, outcome: 'throttled' });
        return false;
      }
    }
    return true;
  }

  /** Stage 2, one (rule, event): posts the alert exactly once, however often this runs. */
  async function postAlert(rule: Rule, event: StoredEvent, log: Logger): Promise<void> {
    const key = { workspaceId: event.workspaceId, eventId: event.id, ruleId: rule.id };
    const leaseMs = deps.alertLeaseMs ?? ALERT_LEASE_MS;
    const { row, fresh } = await claimAlert(deps.db, { ...key, channel: rule.channel }, leaseMs);
    if (row.status !== 'pending') return; // sent, logged or permanently failed by an earlier attempt
    // The claim is renewed while the post waits for the channel's pace, so no other job takes the alert over meanwhile.
    const renewal = setInterval(() => void renewAlertLease(deps.db, key, leaseMs).catch(() => {}), leaseMs / 3);
    try {
      await deliverAlert(rule, event, key, row, fresh, log);
    } finally {
      clearInterval(renewal);
    }
  }

  /** Posts a claimed alert, after looking for it in the channel when an earlier attempt may have posted it. */
  async function deliverAlert(
    rule: Rule,
    event: StoredEvent,
    key: AlertKey,
    row: AlertRow,
    fresh: boolean,
    log: Logger,
  ): Promise<void> {
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

  /**
   * Every event of the range through both stages. Posts start as soon as an event is evaluated and run side by side:
   * the sender paces each channel and sends what waits for it in event order.
   */
  async function alertRange(range: AlertRangeJob, log: Logger): Promise<void> {
    const events = await eventsInRange(deps.db, range);
    const missing = range.toSeq - range.fromSeq + 1 - events.length;
    if (missing > 0) log.debug({ missing }, 'events of the range are no longer stored (purged?)');
    const failures: unknown[] = [];
    const posts: Promise<void>[] = [];
    for (const event of events) {
      if (skipTooOldToAlert(event, deps, log.child({ eventId: event.id }))) continue;
      const decided = await rulesToAlert(event, log);
      failures.push(...decided.failures);
      for (const rule of decided.rules) {
        const alertLog = log.child({ eventId: event.id, ruleId: rule.id });
        posts.push(postAlert(rule, event, alertLog).catch((error: unknown) => void failures.push(error)));
      }
    }
    await Promise.all(posts);
    if (failures.length) throw failures[0];
  }

  const worker = new Worker<AlertRangeJob>(
    AUDIT_EVENTS_QUEUE,
    async (job) => {
      const range = alertJobRange(job.name, job.data);
      // A payload this code cannot read will not become readable on a retry.
      if (typeof range === 'string') throw new UnrecoverableError(range);
      const log = deps.logger.child({ jobId: job.id, ...range });
      try {
        await alertRange(range, log);
      } catch (error) {
        if (job.attemptsMade + 1 < (job.opts.attempts ?? 1)) throw error;
        // The last attempt: the alerts that failed keep their error on their alert rows, and the range counts as done
        // so that the watermark (and a recovery after a Redis wipe) moves past it.
        log.error({ err: error }, 'alerts of this range still failing after the last attempt; giving up on them');
        await recordRangeAlerted(deps.db, range);
        throw error;
      }
      await recordRangeAlerted(deps.db, range);
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
