/**
 * Event order across workers: an alert waiting for its channel may be behind an earlier event that a worker is still
 * putting through the rules, whose alert is not queued yet. The dispatcher asks this gate before each post and holds
 * the alert back (for a bounded time) while such an event may still produce an alert for the same channel at the same
 * or a higher priority; otherwise jobs finishing in a different order than their events were stored would reorder
 * the channel.
 *
 * It reads the alert queue's unfinished jobs: active ones, and the oldest waiting ones (the relay adds each workspace's
 * events in seq order, so an earlier event's job waits ahead of a later one's). A job failing and waiting out its
 * backoff is not waited for: that can take minutes, and the bound would end the wait anyway. With jobs that cover a
 * range of events, the alert watermark (every event up to a seq evaluated) would answer the same question in one read.
 */
import type { Queue } from 'bullmq';
import type { AuditEventJob } from '../queue/names.ts';
import type { Db } from '../store/db.ts';
import { getEvents } from '../store/queries.ts';
import { PRIORITY } from './grouping.ts';
import { matchRule } from './match.ts';
import type { RuleSet } from './rule-loader.ts';

export interface QueuedAlertPosition {
  workspaceId: string;
  seq: number;
  channel: string;
  priority: number;
}

export interface EvaluationGate {
  /** Whether an event stored before this alert's may still be on its way to an alert that should go out first. */
  earlierMayAlert(alert: QueuedAlertPosition): Promise<boolean>;
}

/** How many of the oldest waiting jobs are looked at: enough to cover a burst, few enough to read before every post. */
const WAITING_SCANNED = 50;

/**
 * The workspace and event of an audit-events job, from its id (queue/names.ts auditEventJobId: both URI-encoded,
 * joined by "/"), so the gate never reads job data; undefined for an id made otherwise (a job added by hand).
 */
function eventOfJobId(id: string): { workspaceId: string; eventId: string } | undefined {
  const at = id.indexOf('/');
  if (at <= 0) return undefined;
  try {
    return { workspaceId: decodeURIComponent(id.slice(0, at)), eventId: decodeURIComponent(id.slice(at + 1)) };
  } catch {
    return undefined;
  }
}

export function queueEvaluationGate(queue: Queue<AuditEventJob>, db: Db, rules: RuleSet): EvaluationGate {
  return {
    async earlierMayAlert(alert) {
      const relevant = rules
        .current()
        .filter((rule) => rule.channel === alert.channel && PRIORITY[rule.severity] <= alert.priority);
      if (relevant.length === 0) return false;
      // Ids only: two list reads, however many jobs there are.
      const [active, waiting] = await Promise.all([
        queue.getRanges(['active'], 0, -1),
        queue.getRanges(['wait', 'prioritized'], 0, WAITING_SCANNED - 1, true),
      ]);
      const ids = [...active, ...waiting]
        .map(eventOfJobId)
        .filter((job) => job?.workspaceId === alert.workspaceId)
        .map((job) => job!.eventId);
      if (ids.length === 0) return false;
      const events = await getEvents(db, alert.workspaceId, ids);
      return events.some((event) => event.seq < alert.seq && relevant.some((rule) => matchRule(rule, event)));
    },
  };
}
