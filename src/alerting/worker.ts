/**
 * The alert worker: consumes audit-events, applies the rules, claims each alert once, and hands it to the posting stage
 * (dispatch.ts), which posts it or groups it.
 */
import { UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { StoredEvent } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { AUDIT_EVENTS_QUEUE, auditEventJobSchema, type AuditEventJob } from '../queue/names.ts';
import { logWorkerErrors } from '../queue/connection.ts';
import { buildAlertMessage } from '../slack/blocks/alert.ts';
import { claimAlert, markAlertLogged } from '../store/alerts.ts';
import type { Db } from '../store/db.ts';
import { getEvent } from '../store/queries.ts';
import { groupKey, matchRule } from './match.ts';
import type { RuleSet } from './rule-loader.ts';
import type { Rule } from './rules/types.ts';
import type { AlertDispatcher } from './dispatch.ts';
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
  logger: Logger;
  metrics: Metrics;
  workerOptions?: Partial<WorkerOptions>;
}

export function createAlertWorker(deps: AlertWorkerDeps): Worker<AuditEventJob> {
  const statePrefix = `${deps.prefix}:rule-state:`;
  deps.metrics.trackRules(() => deps.rules.current().map((rule) => rule.id));

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
    const key = { workspaceId: event.workspaceId, eventId: event.id, ruleId: rule.id };
    const { row, fresh } = await claimAlert(deps.db, { ...key, channel: rule.channel });
    if (row.status !== 'pending') return; // sent, grouped, logged or permanently failed by an earlier attempt

    if (!deps.dispatcher) {
      const message = buildAlertMessage({ event, rule, revertEnabled: deps.revertEnabled });
      log.warn({ channel: rule.channel, alert: { channel: rule.channel, ...message } }, 'alert (SLACK_BOT_TOKEN is not set, so it was not posted)');
      await markAlertLogged(deps.db, key);
      deps.metrics.alerts.inc({ rule: rule.id, outcome: 'logged' });
      return;
    }
    // The posting stage: queued (or grouped) in Postgres and posted by the channel's dispatcher in priority order.
    // Not fresh: an earlier attempt got this far and (before the dispatcher existed) may have posted it already.
    await deps.dispatcher.enqueue(rule, event, { mayBePosted: !fresh });
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
