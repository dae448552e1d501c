/**
 * Reading the event log by cursor. The outbox relay and the audit forwarder each keep one seq per workspace and
 * take what is above it in seq order (the relay a range of seqs, the forwarder the events), holding the cursor row's
 * lock so that replicas never take the same batch. Because seq is gap-free and commits in order per workspace, "done"
 * is that one number (see schema/outbox.ts).
 */
import { and, asc, eq, getTableColumns, gt, sql } from 'drizzle-orm';
import { ensureAlertProgress, type SeqRange } from './alert-progress.ts';
import type { Db, DbOrTx } from './db.ts';
import { alertProgress, chainHeads, type EventRow, events, outboxCursors } from './schema/index.ts';

/** One kind of cursor: where its seq is kept and how its row is locked. */
export interface EventCursor<State> {
  /** Runs before the transaction, e.g. to create a missing row that replicas can then contend for. */
  prepare?(db: Db, workspaceId: string): Promise<void>;
  /**
   * Locks the workspace's cursor row for the transaction (FOR UPDATE SKIP LOCKED) and returns its seq, and whatever
   * the reader needs from the row; undefined when another replica holds it or the cursor has nothing to do now.
   */
  lock(tx: DbOrTx, workspaceId: string): Promise<{ seq: number; state: State } | undefined>;
  /** Moves the cursor to `seq` over events retention purged before they were read. */
  skipTo(tx: DbOrTx, workspaceId: string, seq: number): Promise<void>;
}

/** The seq and id of an event, for readers that pass a reference on; `row` readers get the whole events row. */
export interface EventReference {
  id: string;
  seq: number;
}

type RowsOf<C extends 'reference' | 'row'> = C extends 'reference' ? EventReference[] : EventRow[];

export interface CursorRead<C extends 'reference' | 'row'> {
  columns: C;
  /** At most this many events per batch. */
  limit: number;
  /** Called (inside the transaction) when retention purged events above the cursor before they were read. */
  onPurged?: (gap: { fromSeq: number; toSeq: number }) => void;
}

/**
 * One batch of `workspaceId`'s events above `cursor`, handed to `work` inside the transaction that holds the
 * cursor row; `work` moves the cursor (in that transaction) as far as it got. Undefined, without calling `work`,
 * when another replica holds the row, the cursor is not due, or nothing is left above it.
 */
export async function readAboveCursor<State, C extends 'reference' | 'row', T>(
  db: Db,
  cursor: EventCursor<State>,
  workspaceId: string,
  read: CursorRead<C>,
  work: (tx: DbOrTx, batch: { state: State; rows: RowsOf<C> }) => Promise<T>,
): Promise<T | undefined> {
  await cursor.prepare?.(db, workspaceId);
  return db.transaction(async (tx) => {
    const locked = await cursor.lock(tx, workspaceId);
    if (!locked) return undefined;
    const [head] = await tx
      .select({ seq: chainHeads.seq })
      .from(chainHeads)
      .where(eq(chainHeads.workspaceId, workspaceId));
    const above = and(eq(events.workspaceId, workspaceId), gt(events.seq, locked.seq));
    const columns = read.columns === 'reference' ? { id: events.id, seq: events.seq } : getTableColumns(events);
    const rows = (await tx
      .select(columns)
      .from(events)
      .where(above)
      .orderBy(asc(events.seq))
      .limit(read.limit)) as RowsOf<C>;
    if (rows.length === 0) {
      // Nothing left above the cursor although the head is ahead: retention purged those rows. The head was read
      // before the events, so every seq up to it had committed when they were read.
      if (head && head.seq > locked.seq) {
        read.onPurged?.({ fromSeq: locked.seq + 1, toSeq: head.seq });
        await cursor.skipTo(tx, workspaceId, head.seq);
      }
      return undefined;
    }
    return work(tx, { state: locked.state, rows });
  });
}

/** Creates the workspace's outbox cursor and alert progress rows if missing, so relay replicas can contend for them. */
export async function prepareOutbox(db: DbOrTx, workspaceId: string): Promise<void> {
  await db.insert(outboxCursors).values({ workspaceId, relayedSeq: 0 }).onConflictDoNothing();
  await ensureAlertProgress(db, workspaceId);
}

/**
 * Locks the workspace's outbox cursor for the transaction (SKIP LOCKED: another relay replica owns it right now) and
 * answers the committed seqs above it, at most `maxEvents` of them; undefined when the row is held or nothing is above
 * it. The head is read with the cursor, and every seq up to a committed head has committed with it.
 */
export async function lockOutboxRange(
  tx: DbOrTx,
  workspaceId: string,
  maxEvents: number,
): Promise<SeqRange | undefined> {
  const [row] = await tx
    .select({ relayedSeq: outboxCursors.relayedSeq, headSeq: chainHeads.seq })
    .from(outboxCursors)
    .innerJoin(chainHeads, eq(chainHeads.workspaceId, outboxCursors.workspaceId))
    .where(eq(outboxCursors.workspaceId, workspaceId))
    .for('update', { of: outboxCursors, skipLocked: true });
  if (!row || row.headSeq <= row.relayedSeq) return undefined;
  return { workspaceId, fromSeq: row.relayedSeq + 1, toSeq: Math.min(row.headSeq, row.relayedSeq + maxEvents) };
}

/** Records that every event up to `seq` is on the queue. */
export async function advanceOutboxCursor(tx: DbOrTx, workspaceId: string, seq: number): Promise<void> {
  await tx
    .update(outboxCursors)
    .set({ relayedSeq: seq, updatedAt: new Date() })
    .where(eq(outboxCursors.workspaceId, workspaceId));
}

/** Workspaces with committed events beyond their outbox cursor, and whether prepareOutbox has made their rows. */
export async function workspacesBehindOutbox(db: DbOrTx): Promise<{ workspaceId: string; prepared: boolean }[]> {
  return db
    .select({
      workspaceId: chainHeads.workspaceId,
      prepared: sql<boolean>`${outboxCursors.workspaceId} is not null and ${alertProgress.workspaceId} is not null`,
    })
    .from(chainHeads)
    .leftJoin(outboxCursors, eq(outboxCursors.workspaceId, chainHeads.workspaceId))
    .leftJoin(alertProgress, eq(alertProgress.workspaceId, chainHeads.workspaceId))
    .where(sql`${chainHeads.seq} > coalesce(${outboxCursors.relayedSeq}, 0)`);
}

/** Events committed but not yet on the queue, across workspaces (a metric and a readiness hint). */
export async function outboxLag(db: DbOrTx): Promise<number> {
  const [row] = await db
    .select({ lag: sql<string>`coalesce(sum(${chainHeads.seq} - coalesce(${outboxCursors.relayedSeq}, 0)), 0)` })
    .from(chainHeads)
    .leftJoin(outboxCursors, eq(outboxCursors.workspaceId, chainHeads.workspaceId));
  return Number(row?.lag ?? 0);
}
