/**
 * Event order across workers: an alert waiting for its channel may be behind an earlier event that a worker is still
 * putting through the rules, whose alert is not queued yet. The dispatcher asks this gate before each post and holds
 * the alert back (for a bounded time) while such an event may still produce an alert for the same channel at the same
 * or a higher priority; otherwise jobs finishing in a different order than their events were stored would reorder
 * the channel.
 *
 * It reads the alert queue's unfinished jobs: active ones, and the oldest waiting ones (the relay adds each workspace's
 * events in seq order, so an earlier event's job waits ahead of a later one's). A job failing and waiting out its
 * backoff is not waited for: that can take minutes, and the bound would end the wait anyway.
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

/** How many of the oldest waiting jobs are read: enough to cover a burst, cheap enough to read before every post. */
const WAITING_SCANNED = 50;

export function queueEvaluationGate(queue: Queue<AuditEventJob>, db: Db, rules: RuleSet): EvaluationGate {
  return {
    async earlierMayAlert(alert) {
      const relevant = rules
        .current()
        .filter((rule) => rule.channel === alert.channel && PRIORITY[rule.severity] <= alert.priority);
      if (relevant.length === 0) return false;
      const [active, waiting] = await Promise.all([
        queue.getJobs(['active'], 0, -1),
        queue.getJobs(['waiting', 'prioritized'], 0, WAITING_SCANNED - 1, true),
      ]);
      const earlier = [...active, ...waiting]
        .map((job) => job?.data)
        .filter((data): data is AuditEventJob => data?.workspaceId === alert.workspaceId && data.seq < alert.seq);
      if (earlier.length === 0) return false;
      const events = await getEvents(
        db,
        alert.workspaceId,
        earlier.map((data) => data.eventId),
      );
      return events.some((event) => relevant.some((rule) => matchRule(rule, event)));
    },
  };
}
