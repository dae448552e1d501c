/**
 * The queue of alerts waiting for their channel (schema/alert-queue.ts): what the channel's dispatcher takes, most
 * urgent first. Alerts are added as they are claimed, alone or as a group's first, by store/alert-groups.ts, in the
 * statements that decide whether they join a group instead.
 */
import { and, asc, eq, isNull, lte, sql } from 'drizzle-orm';
import type { AlertKey } from './alerts.ts';
import type { DbOrTx } from './db.ts';
import { type AlertQueueRow, alertQueue } from './schema/index.ts';

/** The Postgres NOTIFY channel that wakes dispatchers: `p:<slack channel>` for posts, `u` for message updates. */
export const DISPATCH_CHANNEL = 'audit_alert_dispatch';

const whereKey = (key: AlertKey) =>
  and(
    eq(alertQueue.workspaceId, key.workspaceId),
    eq(alertQueue.eventId, key.eventId),
    eq(alertQueue.ruleId, key.ruleId),
  );

/** The next alert to post to a channel: most urgent first, then event order; ones waiting out a retry stay put. */
export async function nextQueued(db: DbOrTx, channel: string): Promise<AlertQueueRow | undefined> {
  const [row] = await db
    .select()
    .from(alertQueue)
    .where(and(eq(alertQueue.channel, channel), lte(alertQueue.notBefore, sql`now()`)))
    .orderBy(asc(alertQueue.priority), asc(alertQueue.receivedAt), asc(alertQueue.seq), asc(alertQueue.ruleId))
    .limit(1);
  return row;
}

/**
 * Rules with more than `limit` alerts waiting alone for the channel, never tried (a tried one may be in the channel
 * already): storm protection collapses those.
 */
export async function flooding(db: DbOrTx, channel: string, limit: number): Promise<string[]> {
  const rows = await db
    .select({ ruleId: alertQueue.ruleId })
    .from(alertQueue)
    .where(and(eq(alertQueue.channel, channel), isNull(alertQueue.groupId), eq(alertQueue.attempts, 0)))
    .groupBy(alertQueue.ruleId)
    .having(sql`count(*) > ${limit}`);
  return rows.map((row) => row.ruleId);
}

/**
 * Counts a post attempt before it is made, so a crash after Slack took the message is noticed; answers the count. Only
 * while no due alert of the channel is ahead of this one (nextQueued's order) and it is still queued: undefined
 * otherwise, and the dispatcher picks again.
 */
export async function recordPostAttempt(db: DbOrTx, key: AlertKey): Promise<number | undefined> {
  const [row] = await db.execute<{ attempts: number }>(sql`
    update alert_queue q set attempts = q.attempts + 1
    where q.workspace_id = ${key.workspaceId} and q.event_id = ${key.eventId} and q.rule_id = ${key.ruleId}
      and not exists (
        select 1 from alert_queue a
        where a.channel = q.channel and a.not_before <= now()
          and (a.priority, a.received_at, a.seq, a.rule_id) < (q.priority, q.received_at, q.seq, q.rule_id))
    returning q.attempts`);
  return row?.attempts;
}

/** A failure worth retrying: the alert waits `delayMs`, keeping its place in the order for when it is due. */
export async function retryQueuedLater(db: DbOrTx, key: AlertKey, delayMs: number, error: string): Promise<void> {
  await db
    .update(alertQueue)
    .set({ notBefore: sql`now() + ${Math.round(delayMs)} * interval '1 millisecond'`, error })
    .where(whereKey(key));
}

export async function removeQueued(db: DbOrTx, key: AlertKey): Promise<void> {
  await db.delete(alertQueue).where(whereKey(key));
}

/** Channels with an alert due now: what a sweep wakes, should a notification have been missed. */
export async function channelsWithDueAlerts(db: DbOrTx): Promise<string[]> {
  const rows = await db
    .selectDistinct({ channel: alertQueue.channel })
    .from(alertQueue)
    .where(lte(alertQueue.notBefore, sql`now()`));
  return rows.map((row) => row.channel);
}

/** Wakes the dispatchers of every process at commit: `channel` for its posts, undefined for message updates. */
export async function notifyDispatch(db: DbOrTx, channel: string | undefined): Promise<void> {
  await db.execute(sql`select pg_notify(${DISPATCH_CHANNEL}, ${channel === undefined ? 'u' : `p:${channel}`})`);
}
