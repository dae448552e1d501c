/**
 * Event order across workers: an alert waiting for its channel may be behind an earlier event that a worker is still
 * putting through the rules, whose alert is not queued yet. The dispatcher asks this gate before each post and holds
 * the alert back (for a bounded time) while such an event may still produce an alert for the same channel at the same
 * or a higher priority; otherwise jobs finishing in a different order than their events were stored would reorder
 * the channel.
 *
 * Alert jobs cover committed ranges of a workspace's events, and a job queues its events' alerts in seq order before
 * it ends (worker.ts). So the events that may still alert ahead of an alert are those of the workspace's unfinished
 * jobs whose range lies wholly below the alert's event: the gate reads the ids of the active jobs and of the oldest
 * waiting ones (the relay adds a workspace's ranges in seq order), and checks their events against the rules. A job
 * failing and waiting out its backoff is not waited for: that can take minutes, and the bound would end the wait
 * anyway.
 *
 * The alert's own range counts too while it is being evaluated: the events after it in a batch (a token disabling 60
 * sources at once) are the storm that storm protection should see waiting together, and the critical one among them
 * should go out first, so an alert whose later batch-mates may still alert the channel at any priority waits for them
 * (within the same bound). An alert alone in its range never waits for this, nor does a rule group's first match,
 * which posts at once and is updated in place as its batch-mates join.
 */
import type { Queue } from 'bullmq';
import type { AlertRangeJob } from '../queue/names.ts';
import type { Db } from '../store/db.ts';
import { eventsInRange } from '../store/queries.ts';
import { PRIORITY } from './grouping.ts';
import { matchRule } from './match.ts';
import type { RuleSet } from './rule-loader.ts';

export interface QueuedAlertPosition {
  workspaceId: string;
  seq: number;
  channel: string;
  priority: number;
  /** The head of a rule's group: it posts at once and later matches update its message, so it never waits for them. */
  grouped?: boolean;
}

export interface EvaluationGate {
  /** Whether an event stored before this alert's may still be on its way to an alert that should go out first. */
  earlierMayAlert(alert: QueuedAlertPosition): Promise<boolean>;
}

/** How many of the oldest waiting jobs are looked at: enough to cover a burst, few enough to read before every post. */
const WAITING_SCANNED = 50;

/** At most this many events of earlier ranges are read per check; beyond it the gate assumes one may alert. */
const EVENTS_CHECKED = 2000;

/**
 * The workspace and seq range of an alert job, from its id (queue/names.ts alertRangeJobId: the workspace URI-encoded,
 * then "/fromSeq-toSeq"), so the gate never reads job data; undefined for an id made otherwise.
 */
export function rangeOfJobId(id: string): AlertRangeJob | undefined {
  const match = /^([^/]+)\/(\d+)-(\d+)$/.exec(id);
  if (!match) return undefined;
  try {
    return { workspaceId: decodeURIComponent(match[1]!), fromSeq: Number(match[2]), toSeq: Number(match[3]) };
  } catch {
    return undefined;
  }
}

export function queueEvaluationGate(queue: Queue, db: Db, rules: RuleSet): EvaluationGate {
  return {
    async earlierMayAlert(alert) {
      const forChannel = rules.current().filter((rule) => rule.channel === alert.channel);
      const relevant = forChannel.filter((rule) => PRIORITY[rule.severity] <= alert.priority);
      if (forChannel.length === 0) return false;
      // Ids only: two list reads, however many jobs there are.
      const [active, waiting] = await Promise.all([
        queue.getRanges(['active'], 0, -1),
        queue.getRanges(['wait', 'prioritized'], 0, WAITING_SCANNED - 1, true),
      ]);
      const ranges = [...active, ...waiting]
        .map(rangeOfJobId)
        .filter((range) => range?.workspaceId === alert.workspaceId && range.fromSeq <= alert.seq) as AlertRangeJob[];
      // Earlier ranges: any event that may alert the channel at this priority or above. The alert's own range: the
      // events after it that may alert the channel at all.
      const checks = ranges.flatMap((range) => {
        if (range.toSeq < alert.seq) return relevant.length ? [{ range, rules: relevant }] : [];
        if (range.toSeq > alert.seq && !alert.grouped) {
          return [{ range: { ...range, fromSeq: alert.seq + 1 }, rules: forChannel }];
        }
        return [];
      });
      let budget = EVENTS_CHECKED;
      for (const { range, rules: check } of checks) {
        const size = range.toSeq - range.fromSeq + 1;
        if (size > budget) return true;
        budget -= size;
        const events = await eventsInRange(db, range);
        if (events.some((event) => check.some((rule) => matchRule(rule, event)))) return true;
      }
      return false;
    },
  };
}
