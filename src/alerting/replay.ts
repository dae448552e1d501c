/**
 * Replaying stored events through the rules (`rules:test`): which alerts would have fired, decided in
 * memory by event time with the threshold and throttle semantics of window-state.ts. Nothing is posted,
 * and neither Redis nor the alerts table is read or written.
 */
import { and, asc, eq, getTableColumns, gte, sql } from 'drizzle-orm';
import type { StoredEvent } from '../events.ts';
import type { DbOrTx } from '../store/db.ts';
import { rowToEvent } from '../store/rows.ts';
import { chainHeads, events } from '../store/schema/index.ts';
import { groupKey, matchRule } from './match.ts';
import type { Rule } from './rules/types.ts';

export interface WouldBeAlert {
  rule: Rule;
  event: StoredEvent;
  /** `threshold`: this event completed the rule's count; `match`: the rule has no threshold. */
  reason: 'match' | 'threshold';
}

export interface ReplaySummary {
  /** Events read (since the start, in the workspace when one was given), matching or not. */
  events: number;
  alerts: number;
  /** Alerts a throttle held back. */
  throttled: number;
}

export interface ReplayOptions {
  /** Inclusive lower bound on the event's timestamp. */
  since: Date;
  workspaceId?: string;
  /** Rows per query. */
  pageSize?: number;
}

export const REPLAY_PAGE_SIZE = 2000;

/** Threshold and throttle state for one replay, kept in memory and driven by event time. */
export interface WindowSimulator {
  /**
   * Counts a match toward the rule's threshold for group `key`; true exactly when it makes `count`
   * matches within `withinMs` of the newest one (both ends included), after which the group starts over.
   */
  recordThresholdMatch(ruleId: string, key: string, atMs: number, withinMs: number, count: number): boolean;
  /** True when the group may alert: no alert of it in the `withinMs` up to `atMs` (both ends included). */
  acquireThrottle(ruleId: string, key: string, atMs: number, withinMs: number): boolean;
}

/**
 * The in-memory twin of window-state.ts's Lua scripts. Their per-event-id idempotence is left out: a
 * replay sees each event once. Redis keeps a throttle key until `now > expiry`, so an event exactly
 * `withinMs` after the alert is still held back here too.
 */
export function createWindowSimulator(): WindowSimulator {
  // Rule ids cannot contain ":", so `<rule>:<group>` names one (rule, group), as throttleKey does.
  const pending = new Map<string, number[]>();
  const throttledSince = new Map<string, number>();
  return {
    recordThresholdMatch(ruleId, key, atMs, withinMs, count) {
      const slot = `${ruleId}:${key}`;
      const times = [...(pending.get(slot) ?? []), atMs];
      // As in the script: the window ends at the newest match, even when this one arrived late.
      const newest = times.reduce((max, at) => Math.max(max, at), -Infinity);
      const inWindow = times.filter((at) => at >= newest - withinMs);
      if (inWindow.length < count) {
        pending.set(slot, inWindow);
        return false;
      }
      pending.delete(slot);
      return true;
    },
    acquireThrottle(ruleId, key, atMs, withinMs) {
      const slot = `${ruleId}:${key}`;
      const heldAt = throttledSince.get(slot);
      if (heldAt !== undefined && atMs <= heldAt + withinMs) return false;
      throttledSince.set(slot, atMs);
      return true;
    },
  };
}

/**
 * What the alert worker would do with one matching event, in its order: the threshold counts the
 * match first, and only an alert the threshold lets through takes the throttle.
 */
function decide(
  rule: Rule,
  event: StoredEvent,
  windows: WindowSimulator,
): WouldBeAlert['reason'] | 'throttled' | undefined {
  const atMs = Date.parse(event.timestamp);
  if (rule.threshold) {
    const { count, withinMs, by } = rule.threshold;
    if (!windows.recordThresholdMatch(rule.id, groupKey(by, event), atMs, withinMs, count)) return undefined;
  }
  if (
    rule.throttle &&
    !windows.acquireThrottle(rule.id, groupKey(rule.throttle.by, event), atMs, rule.throttle.withinMs)
  ) {
    return 'throttled';
  }
  return rule.threshold ? 'threshold' : 'match';
}

/** Workspaces with a hash chain, i.e. every workspace that ever stored an event; cheaper than DISTINCT over events. */
async function listWorkspaces(db: DbOrTx): Promise<string[]> {
  const rows = await db
    .select({ workspaceId: chainHeads.workspaceId })
    .from(chainHeads)
    .orderBy(asc(chainHeads.workspaceId));
  return rows.map((row) => row.workspaceId);
}

/**
 * One workspace's events from `since` on, oldest first, a page at a time with a keyset on
 * (timestamp, seq), which is unique within a workspace and walks `events_workspace_time` backwards.
 */
async function* workspaceEvents(
  db: DbOrTx,
  workspaceId: string,
  since: Date,
  pageSize: number,
): AsyncGenerator<StoredEvent> {
  let cursor: { at: string; seq: number } | undefined;
  for (;;) {
    const rows = await db
      .select({
        ...getTableColumns(events),
        // Postgres keeps microseconds; a cursor from a JS Date would round them away and re-read rows.
        cursorAt: sql<string>`${events.timestamp}::text`,
      })
      .from(events)
      .where(
        and(
          eq(events.workspaceId, workspaceId),
          gte(events.timestamp, since),
          cursor
            ? sql`(${events.timestamp}, ${events.seq}) > (${cursor.at}::timestamptz, ${cursor.seq}::bigint)`
            : undefined,
        ),
      )
      // NULLS FIRST is the exact reverse of the index's DESC NULLS LAST, so Postgres can scan it backwards.
      .orderBy(sql`${events.timestamp} asc nulls first`, sql`${events.seq} asc nulls first`)
      .limit(pageSize);
    for (const row of rows) yield rowToEvent(row);
    const last = rows.at(-1);
    if (!last || rows.length < pageSize) return;
    cursor = { at: last.cursorAt, seq: last.seq };
  }
}

/**
 * Replays the events since `options.since` through the enabled rules and yields each alert that would
 * have fired; the generator's return value counts what was read. Threshold and throttle groups always
 * include the workspace (see `groupKey`), so workspaces are replayed one after another, each in
 * (timestamp, seq) order, with the same outcome as one interleaved timeline.
 */
export async function* replayRules(
  db: DbOrTx,
  rules: readonly Rule[],
  options: ReplayOptions,
): AsyncGenerator<WouldBeAlert, ReplaySummary, undefined> {
  const pageSize = options.pageSize ?? REPLAY_PAGE_SIZE;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1)
    throw new RangeError(`pageSize must be a whole number of at least 1, got ${pageSize}`);
  const enabled = rules.filter((rule) => rule.enabled);
  const windows = createWindowSimulator();
  const summary: ReplaySummary = { events: 0, alerts: 0, throttled: 0 };
  const workspaces = options.workspaceId === undefined ? await listWorkspaces(db) : [options.workspaceId];
  for (const workspaceId of workspaces) {
    for await (const event of workspaceEvents(db, workspaceId, options.since, pageSize)) {
      summary.events += 1;
      for (const rule of enabled) {
        if (!matchRule(rule, event)) continue;
        const outcome = decide(rule, event, windows);
        if (outcome === 'throttled') summary.throttled += 1;
        if (outcome !== 'match' && outcome !== 'threshold') continue;
        summary.alerts += 1;
        yield { rule, event, reason: outcome };
      }
    }
  }
  return summary;
}
