/** The alert records: claimed before a post, marked after it. */
import { and, desc, eq, isNotNull, sql } from 'drizzle-orm';
import type { DbOrTx } from './db.ts';
import { alerts, type AlertRow } from './schema/index.ts';

export interface AlertKey {
  workspaceId: string;
  eventId: string;
  ruleId: string;
}

/** How long a claim on an alert lasts unless renewed: a worker that died holding one delays that alert this long. */
export const ALERT_LEASE_MS = 30_000;

/** Another worker holds a live claim on the alert: the job should try again later, when it is posted or given up. */
export class AlertClaimedElsewhere extends Error {
  constructor(readonly leaseUntil: Date) {
    super(`another worker is posting this alert (claim held until ${leaseUntil.toISOString()})`);
    this.name = 'AlertClaimedElsewhere';
  }
}

/**
 * The alert row for (event, rule), created as pending if new and claimed for `leaseMs`; `fresh` is false when an
 * earlier attempt got this far, which means a message may already be in the channel. Each claim counts an attempt.
 * A row no longer pending comes back unclaimed (there is nothing left to do); one pending under another worker's live
 * claim throws AlertClaimedElsewhere.
 */
export async function claimAlert(
  db: DbOrTx,
  key: AlertKey & { channel: string },
  leaseMs = ALERT_LEASE_MS,
): Promise<{ row: AlertRow; fresh: boolean }> {
  const leaseUntil = sql`now() + ${leaseMs} * interval '1 millisecond'`;
  const [claimed] = await db
    .insert(alerts)
    .values({ ...key, attempts: 1, leaseUntil })
    .onConflictDoUpdate({
      target: [alerts.workspaceId, alerts.eventId, alerts.ruleId],
      set: { attempts: sql`${alerts.attempts} + 1`, leaseUntil },
      setWhere: sql`${alerts.status} = 'pending' and (${alerts.leaseUntil} is null or ${alerts.leaseUntil} <= now())`,
    })
    .returning();
  if (claimed) return { row: claimed, fresh: claimed.attempts === 1 };
  const row = await getAlert(db, key);
  if (!row) throw new Error('alert row vanished while being claimed');
  if (row.status !== 'pending') return { row, fresh: false };
  throw new AlertClaimedElsewhere(row.leaseUntil ?? new Date());
}

/** Extends this worker's claim while the alert waits for its turn in the channel. */
export async function renewAlertLease(db: DbOrTx, key: AlertKey, leaseMs = ALERT_LEASE_MS): Promise<void> {
  await db
    .update(alerts)
    .set({ leaseUntil: sql`now() + ${leaseMs} * interval '1 millisecond'` })
    .where(and(whereKey(key), eq(alerts.status, 'pending')));
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

/** A failure worth retrying; the claim is given up so that the retry need not wait for it to lapse. */
export async function recordAlertError(db: DbOrTx, key: AlertKey, error: string): Promise<void> {
  await db.update(alerts).set({ error, leaseUntil: null }).where(whereKey(key));
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
