/** Audit forwarding settings and delivery state: reads for status and metrics, and the row lock toggles take. */
import { and, asc, desc, eq, gt, gte, sql } from 'drizzle-orm';
import type { DbOrTx } from './db.ts';
import { chainHeads, events, forwarding, forwardingFailures, type ForwardingFailureRow, type ForwardingRow } from './schema/index.ts';

/**
 * The workspace's settings row, locked for the rest of the transaction (created switched off when missing, so
 * two toggles at once queue on it). It waits for a batch the forwarder is sending under that lock to finish.
 */
export async function lockForwarding(tx: DbOrTx, workspaceId: string): Promise<ForwardingRow> {
  await tx
    .insert(forwarding)
    .values({ workspaceId, enabled: false, writeKey: '', changedBy: '', deliveredSeq: 0, startedSeq: 0 })
    .onConflictDoNothing();
  const [row] = await tx.select().from(forwarding).where(eq(forwarding.workspaceId, workspaceId)).for('update');
  if (!row) throw new Error(`forwarding row for workspace ${workspaceId} vanished`);
  return row;
}

/** The seq just before the first event received at or after `since`; undefined when none was. */
export async function seqBeforeReceived(db: DbOrTx, workspaceId: string, since: Date): Promise<number | undefined> {
  const [first] = await db
    .select({ seq: events.seq })
    .from(events)
    .where(and(eq(events.workspaceId, workspaceId), gte(events.receivedAt, since)))
    .orderBy(asc(events.seq))
    .limit(1);
  return first ? first.seq - 1 : undefined;
}

export interface ForwardingStatus {
  settings: ForwardingRow;
  headSeq: number;
  /** Events stored but not yet delivered (or recorded as failed); 0 while forwarding is off. */
  pending: number;
  /** When the oldest of those was received. */
  oldestPendingAt?: Date;
  failedBatches: number;
  lastFailure?: ForwardingFailureRow;
}

/** Undefined when forwarding was never turned on for the workspace. */
export async function getForwardingStatus(db: DbOrTx, workspaceId: string): Promise<ForwardingStatus | undefined> {
  const [settings] = await db.select().from(forwarding).where(eq(forwarding.workspaceId, workspaceId));
  if (!settings || !settings.changedBy) return undefined;
  const [head] = await db.select({ seq: chainHeads.seq }).from(chainHeads).where(eq(chainHeads.workspaceId, workspaceId));
  const headSeq = head?.seq ?? 0;
  const pending = settings.enabled ? Math.max(0, headSeq - settings.deliveredSeq) : 0;
  const [oldest] = pending
    ? await db
        .select({ receivedAt: events.receivedAt })
        .from(events)
        .where(and(eq(events.workspaceId, workspaceId), gt(events.seq, settings.deliveredSeq)))
        .orderBy(asc(events.seq))
        .limit(1)
    : [];
  const since = gte(forwardingFailures.createdAt, settings.startedAt);
  const [counted] = await db
    .select({ n: sql<number>`count(*)::int` })
    .from(forwardingFailures)
    .where(and(eq(forwardingFailures.workspaceId, workspaceId), since));
  const [lastFailure] = await db
    .select()
    .from(forwardingFailures)
    .where(and(eq(forwardingFailures.workspaceId, workspaceId), since))
    .orderBy(desc(forwardingFailures.createdAt))
    .limit(1);
  return {
    settings,
    headSeq,
    pending,
    ...(oldest && { oldestPendingAt: oldest.receivedAt }),
    failedBatches: counted?.n ?? 0,
    ...(lastFailure && { lastFailure }),
  };
}

/** Events not yet delivered, across workspaces with forwarding on (the lag gauge). */
export async function forwardingLag(db: DbOrTx): Promise<number> {
  const [row] = await db
    .select({ lag: sql<string>`coalesce(sum(greatest(${chainHeads.seq} - ${forwarding.deliveredSeq}, 0)), 0)` })
    .from(forwarding)
    .innerJoin(chainHeads, eq(chainHeads.workspaceId, forwarding.workspaceId))
    .where(eq(forwarding.enabled, true));
  return Number(row?.lag ?? 0);
}
