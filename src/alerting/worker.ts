/**
 * The alert worker: takes a committed range of a workspace's events off the alert queue, applies the rules to each
 * event, claims each alert once and hands it to the posting stage (dispatch.ts), which posts it or groups it, and
 * records the range as alerted in Postgres.
 */
import { UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { StoredEvent } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { logWorkerErrors } from '../queue/connection.ts';
import { type AlertRangeJob, AUDIT_EVENTS_QUEUE, alertJobRange } from '../queue/names.ts';
import { buildAlertMessage } from '../slack/blocks/alert.ts';
import { recordRangeAlerted } from '../store/alert-progress.ts';
import { ALERT_LEASE_MS, claimAlert, markAlertLogged } from '../store/alerts.ts';
import type { Db } from '../store/db.ts';
import { eventsInRange } from '../store/queries.ts';
import type { AlertDispatcher } from './dispatch.ts';
import { groupKey, matchRule } from './match.ts';
import { skipTooOldToAlert } from './max-age.ts';
import type { RuleSet } from './rule-loader.ts';
import type { Rule } from './rules/types.ts';
import { holdBackIfSilenced } from './silences.ts';
import { acquireThrottle, recordThresholdMatch } from './window-state.ts';

export interface AlertWorkerDeps {
  db: Db;
  /** The BullMQ worker's connection (blocking commands). */
  connection: Redis;
  /** Threshold and throttle state. */
  stateRedis: Redis;
  prefix: string;
  rules: RuleSet;
  /** The posting stage (dispatch.ts); undefined without SLACK_BOT_TOKEN: alerts are written to the log. */
  dispatcher: AlertDispatcher | undefined;
  revertEnabled: boolean;
  /** ALERT_MAX_AGE in milliseconds. */
  alertMaxAgeMs: number;
  logger: Logger;
  metrics: Metrics;
  workerOptions?: Partial<WorkerOptions>;
  /** How long a claim on an alert lasts (default ALERT_LEASE_MS; crash tests use less). */
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
      const fired = await recordThresholdMatch(
        deps.stateRedis,
        statePrefix,
        rule.id,
        groupKey(by, event),
        event.id,
        Date.parse(event.timestamp),
        withinMs,
        count,
      );
      if (!fired) {
        deps.metrics.alerts.inc({ rule: rule.id, outcome: 'below_threshold' });
        return false;
      }
    }
    if (rule.throttle) {
      const allowed = await acquireThrottle(
        deps.stateRedis,
        statePrefix,
        rule.id,
        groupKey(rule.throttle.by, event),
        event.id,
        rule.throttle.withinMs,
      );
      if (!allowed) {
        log.debug({ eventId: event.id, ruleId: rule.id }, 'alert throttled');
        deps.metrics.alerts.inc({ rule: rule.id, outcome: 'throttled' });
        return false;
      }
    }
    return true;
  }

  /**
   * Stage 2, one (rule, event): claims the alert and hands it to the posting stage, which commits it to its queue (or a
   * group) before this resolves. However often this runs for a (rule, event), one message shows it: the queue and the
   * groups are keyed by it, and an alert an earlier attempt claimed is looked for in the channel before it is posted.
   */
  async function postAlert(rule: Rule, event: StoredEvent, log: Logger): Promise<void> {
    const key = { workspaceId: event.workspaceId, eventId: event.id, ruleId: rule.id };
    const { row, fresh } = await claimAlert(
      deps.db,
      { ...key, channel: rule.channel },
      deps.alertLeaseMs ?? ALERT_LEASE_MS,
    );
    if (row.status !== 'pending') return; // sent, grouped, logged or permanently failed by an earlier attempt

    if (!deps.dispatcher) {
      const message = buildAlertMessage({ event, rule, revertEnabled: deps.revertEnabled });
      log.warn(
        { channel: rule.channel, alert: { channel: rule.channel, ...message } },
        'alert (SLACK_BOT_TOKEN is not set, so it was not posted)',
      );
      await markAlertLogged(deps.db, key);
      deps.metrics.alerts.inc({ rule: rule.id, outcome: 'logged' });
      return;
    }
    // Not fresh: an earlier attempt got this far and may have queued (even posted) it already.
    await deps.dispatcher.enqueue(rule, event, { mayBePosted: !fresh });
  }

  /**
   * Every event of the range through both stages, in seq order: an event's alerts are queued before the next event is
   * evaluated, so the dispatcher's order check (ordering.ts) need only ask whether earlier ranges are done.
   */
  async function alertRange(range: AlertRangeJob, log: Logger): Promise<void> {
    const events = await eventsInRange(deps.db, range);
    const missing = range.toSeq - range.fromSeq + 1 - events.length;
    if (missing > 0) log.debug({ missing }, 'events of the range are no longer stored (purged?)');
    const failures: unknown[] = [];
    for (const event of events) {
      if (skipTooOldToAlert(event, deps, log.child({ eventId: event.id }))) continue;
      const decided = await rulesToAlert(event, log);
      failures.push(...decided.failures);
      await Promise.all(
        decided.rules.map((rule) =>
          postAlert(rule, event, log.child({ eventId: event.id, ruleId: rule.id })).catch(
            (error: unknown) => void failures.push(error),
          ),
        ),
      );
    }
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
    deps.logger.warn(
      { jobId: job?.id, attempts: job?.attemptsMade, err: error },
      'alert job failed; BullMQ will retry it',
    );
  });
  logWorkerErrors(worker, deps.logger, 'alert worker error');
  return worker;
}
