/** The alert records: claimed before a post, marked after it. */
import { and, desc, eq, isNotNull, sql } from 'drizzle-orm';
import type { DbOrTx } from './db.ts';
import { alerts, type AlertRow } from './schema/index.ts';

export interface AlertKey {
  workspaceId: string;
  eventId: string;
  ruleId: string;
}

/**
 * The alert row for (event, rule), created as pending if new; `fresh` is false when an earlier attempt
 * got this far, which means a message may already be in the channel. Each call counts an attempt.
 */
export async function claimAlert(db: DbOrTx, key: AlertKey & { channel: string }): Promise<{ row: AlertRow; fresh: boolean }> {
  const [row] = await db
    .insert(alerts)
    .values({ ...key, attempts: 1 })
    .onConflictDoUpdate({
      target: [alerts.workspaceId, alerts.eventId, alerts.ruleId],
      set: { attempts: sql`${alerts.attempts} + 1` },
    })
    .returning();
  return { row: row!, fresh: row!.attempts === 1 };
}

const whereKey = (key: AlertKey) =>
  and(eq(alerts.workspaceId, key.workspaceId), eq(alerts.eventId, key.eventId), eq(alerts.ruleId, key.ruleId));

export async function markAlertSent(db: DbOrTx, key: AlertKey, sent: { channelId: string; ts: string }): Promise<void> {
  await db.update(alerts).set({ status: 'sent', channelId: sent.channelId, ts: sent.ts, sentAt: new Date(), error: null }).where(whereKey(key));
}

export async function markAlertFailed(db: DbOrTx, key: AlertKey, error: string): Promise<void> {
  await db.update(alerts).set({ status: 'failed', error }).where(whereKey(key));
}

export async function markAlertLogged(db: DbOrTx, key: AlertKey): Promise<void> {
  await db.update(alerts).set({ status: 'logged', sentAt: new Date() }).where(whereKey(key));
}

export async function recordAlertError(db: DbOrTx, key: AlertKey, error: string): Promise<void> {
  await db.update(alerts).set({ error }).where(whereKey(key));
}

/** A channel ID learnt from an earlier post to the same channel name, if any. */
export async function knownChannelId(db: DbOrTx, channel: string): Promise<string | undefined> {
  const [row] = await db
    .select({ channelId: alerts.channelId })
    .from(alerts)
    .where(and(eq(alerts.channel, channel), isNotNull(alerts.channelId)))
    .orderBy(desc(alerts.createdAt))
    .limit(1);
  return row?.channelId ?? undefined;
}

export function getAlert(db: DbOrTx, key: AlertKey) {
  return db.select().from(alerts).where(whereKey(key)).then((rows) => rows[0]);
}
