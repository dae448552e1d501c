/**
 * Which group an alert may join (SPEC section 6): the rule's own `group: { within, by }`, or, for a rule without one,
 * storm protection, which groups a flooding rule's waiting alerts by actor. Also the order alerts wait in.
 */
import type { StoredEvent } from '../events.ts';
import type { GroupCandidate } from '../store/alert-groups.ts';
import { groupKey } from './match.ts';
import type { Rule, Severity } from './rules/types.ts';

/** Posts to a channel go out lowest first: a critical alert never waits behind lesser ones. */
export const PRIORITY: Readonly<Record<Severity, number>> = { critical: 0, warning: 1, info: 2 };

/** Storm protection: more than this many alerts of one rule waiting for one channel collapse into grouped messages. */
export const STORM_LIMIT = 5;

/** The field a storm is grouped by: one message per actor. */
export const STORM_GROUP_BY = 'actor.id';

/**
 * How long a storm group stays open after its latest match: later matches of the rule by that actor join it rather
 * than post alone, so a storm that goes on is one message, not a new group every few seconds.
 */
export const DEFAULT_STORM_WITHIN_MS = 60_000;

/** The rule's own group for this event, when the rule has `group`. */
export function ruleGroupCandidate(rule: Rule, event: StoredEvent): GroupCandidate | undefined {
  if (!rule.group) return undefined;
  const key = groupKey(rule.group.by, event);
  return {
    ...alertOf(rule, event),
    kind: 'rule',
    groupBy: rule.group.by ?? null,
    groupValue: rule.group.by === undefined ? null : key.slice(event.workspaceId.length + 1),
    groupKey: key,
    withinMs: rule.group.withinMs,
  };
}

/** The storm group of an alert of a rule without `group`: its actor's. */
export function stormCandidate(
  rule: Rule,
  alert: { workspaceId: string; eventId: string; seq: number; receivedAt: string; actorId: string },
  withinMs: number,
): GroupCandidate {
  return {
    workspaceId: alert.workspaceId,
    eventId: alert.eventId,
    ruleId: rule.id,
    channel: rule.channel,
    severity: rule.severity,
    priority: PRIORITY[rule.severity],
    seq: alert.seq,
    receivedAt: alert.receivedAt,
    kind: 'storm',
    groupBy: STORM_GROUP_BY,
    groupValue: alert.actorId,
    // Prefixed so that a rule that gains or loses `group` on reload never mixes its two kinds of group.
    groupKey: `storm:${alert.workspaceId}:${alert.actorId}`,
    withinMs,
  };
}

function alertOf(rule: Rule, event: StoredEvent) {
  return {
    workspaceId: event.workspaceId,
    eventId: event.id,
    ruleId: rule.id,
    channel: rule.channel,
    severity: rule.severity,
    priority: PRIORITY[rule.severity],
    seq: event.seq,
    receivedAt: event.receivedAt,
  };
}
