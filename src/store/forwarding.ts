/**
 * Audit forwarding settings and delivery state: every write to the forwarding tables (toggles, the delivery cursor,
 * backoff, refused batches), the row lock toggles take, and the reads for status and metrics.
 */
import { and, asc, desc, eq, getTableColumns, gt, gte, sql } from 'drizzle-orm';
import type { EventCursor } from './cursors.ts';
import type { DbOrTx } from './db.ts';
import {
  chainHeads,
  events,
  type ForwardingFailureRow,
  type ForwardingRow,
  forwarding,
  forwardingFailures,
} from './schema/index.ts';

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

/** The settings row, locked for the rest of the transaction; undefined when forwarding was never set up. */
export async function lockExistingForwarding(tx: DbOrTx, workspaceId: string): Promise<ForwardingRow | undefined> {
  const [row] = await tx.select().from(forwarding).where(eq(forwarding.workspaceId, workspaceId)).for('update');
  return row;
}

export interface ForwardingOn {
  writeKey: string;
  name: string | null;
  changedBy: string;
  /** Delivery continues after this seq. */
  deliveredSeq: number;
  startedSeq: number;
  /** Forwarding was off: the counts, the last error and startedAt begin again. */
  fresh: boolean;
}

export async function saveForwardingOn(tx: DbOrTx, workspaceId: string, on: ForwardingOn): Promise<void> {
  const now = new Date();
  await tx
    .update(forwarding)
    .set({
      enabled: true,
      writeKey: on.writeKey,
      name: on.name,
      changedBy: on.changedBy,
      changedAt: now,
      deliveredSeq: on.deliveredSeq,
      startedSeq: on.startedSeq,
      // A new key may well fix what failed: try it at once.
      retryAt: null,
      retryAttempts: 0,
      ...(on.fresh && { startedAt: now, deliveredCount: 0, failedCount: 0, lastError: null, lastErrorAt: null }),
    })
    .where(eq(forwarding.workspaceId, workspaceId));
}

export async function saveForwardingOff(tx: DbOrTx, workspaceId: string, changedBy: string): Promise<void> {
  await tx
    .update(forwarding)
    .set({ enabled: false, changedBy, changedAt: new Date(), retryAt: null, retryAttempts: 0 })
    .where(eq(forwarding.workspaceId, workspaceId));
}

/**
 * The forwarder's cursor: delivered_seq on the settings row, which it holds (SKIP LOCKED) while a batch is in
 * flight. Not due while forwarding is off or a backoff is in force.
 */
export const forwardingCursor: EventCursor<ForwardingRow> = {
  async lock(tx, workspaceId) {
    const [row] = await tx
      .select({
        ...getTableColumns(forwarding),
        backingOff: sql<boolean>`coalesce(${forwarding.retryAt} > clock_timestamp(), false)`,
      })
      .from(forwarding)
      .where(and(eq(forwarding.workspaceId, workspaceId), eq(forwarding.enabled, true)))
      .for('update', { skipLocked: true });
    if (!row || row.backingOff) return undefined;
    const { backingOff: _backingOff, ...settings } = row;
    return { seq: settings.deliveredSeq, state: settings };
  },
  async skipTo(tx, workspaceId, seq) {
    await tx.update(forwarding).set({ deliveredSeq: seq }).where(eq(forwarding.workspaceId, workspaceId));
  },
};

/** Workspaces with forwarding on, events beyond their cursor, and no backoff in force. */
export async function workspacesDueForForwarding(db: DbOrTx): Promise<string[]> {
  const rows = await db
    .select({ workspaceId: forwarding.workspaceId })
    .from(forwarding)
    .innerJoin(chainHeads, eq(chainHeads.workspaceId, forwarding.workspaceId))
    .where(
      and(
        eq(forwarding.enabled, true),
        gt(chainHeads.seq, forwarding.deliveredSeq),
        sql`(${forwarding.retryAt} is null or ${forwarding.retryAt} <= clock_timestamp())`,
      ),
    );
  return rows.map((row) => row.workspaceId);
}

/** A batch of events up to `toSeq`, in seq order. */
export interface ForwardedRange {
  fromSeq: number;
  toSeq: number;
  events: number;
}

/** Segment acknowledged the batch: the cursor moves past it and any backoff ends. */
export async function recordBatchDelivered(tx: DbOrTx, workspaceId: string, range: ForwardedRange): Promise<void> {
  await tx
    .update(forwarding)
    .set({
      deliveredSeq: range.toSeq,
      deliveredCount: sql`${forwarding.deliveredCount} + ${range.events}`,
      lastDeliveredAt: sql`clock_timestamp()`,
      lastError: null,
      lastErrorAt: null,
      retryAt: null,
      retryAttempts: 0,
    })
    .where(eq(forwarding.workspaceId, workspaceId));
}

/** Moves the cursor past a batch Segment will never take, and keeps a record of which events it held and why. */
export async function recordBatchRejected(
  tx: DbOrTx,
  workspaceId: string,
  range: ForwardedRange,
  refusal: { status: number; reason: string },
): Promise<void> {
  const { fromSeq, toSeq } = range;
  const { status, reason } = refusal;
  await tx.insert(forwardingFailures).values({ workspaceId, fromSeq, toSeq, status, reason });
  await tx
    .update(forwarding)
    .set({
      deliveredSeq: toSeq,
      failedCount: sql`${forwarding.failedCount} + ${range.events}`,
      lastError: reason,
      lastErrorAt: sql`clock_timestamp()`,
      retryAt: null,
      retryAttempts: 0,
    })
    .where(eq(forwarding.workspaceId, workspaceId));
}

/** The batch failed in a way a retry may fix: the cursor stays, and the workspace is left alone for `delayMs`. */
export async function recordBatchRetry(
  tx: DbOrTx,
  workspaceId: string,
  retry: { attempts: number; delayMs: number; reason: string },
): Promise<void> {
  await tx
    .update(forwarding)
    .set({
      retryAt: sql`clock_timestamp() + ${retry.delayMs} * interval '1 millisecond'`,
      retryAttempts: retry.attempts,
      lastError: retry.reason,
      lastErrorAt: sql`clock_timestamp()`,
    })
    .where(eq(forwarding.workspaceId, workspaceId));
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
  if (!settings?.changedBy) return undefined;
  const [head] = await db
    .select({ seq: chainHeads.seq })
    .from(chainHeads)
    .where(eq(chainHeads.workspaceId, workspaceId));
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
