/** What digests anchor off-box (SPEC section 12): each chain's head and retention checkpoint, and the hash at a seq. */
import { and, asc, eq } from 'drizzle-orm';
import type { DbOrTx } from './db.ts';
import { chainCheckpoints, chainHeads, events } from './schema/index.ts';

export interface ChainAnchor {
  workspaceId: string;
  headSeq: number;
  headHash: string;
  /** The last purged seq and its hash, once retention has purged anything. */
  checkpoint?: { seq: number; hash: string };
}

/**
 * Heads and checkpoints, read in one statement so the two agree. A plain read: it takes no lock, so making
 * digests never waits on ingest and ingest never waits on it.
 */
export async function chainAnchors(db: DbOrTx, workspaceId?: string): Promise<ChainAnchor[]> {
  const rows = await db
    .select({
      workspaceId: chainHeads.workspaceId,
      headSeq: chainHeads.seq,
      headHash: chainHeads.hash,
      checkpointSeq: chainCheckpoints.seq,
      checkpointHash: chainCheckpoints.hash,
    })
    .from(chainHeads)
    .leftJoin(chainCheckpoints, eq(chainCheckpoints.workspaceId, chainHeads.workspaceId))
    .where(workspaceId === undefined ? undefined : eq(chainHeads.workspaceId, workspaceId))
    .orderBy(asc(chainHeads.workspaceId));
  return rows.map((row) => ({
    workspaceId: row.workspaceId,
    headSeq: row.headSeq,
    headHash: row.headHash,
    ...(row.checkpointSeq !== null &&
      row.checkpointHash !== null && { checkpoint: { seq: row.checkpointSeq, hash: row.checkpointHash } }),
  }));
}

/** The stored hash of the event at `seq`, or undefined when no event has that seq. */
export async function hashAtSeq(db: DbOrTx, workspaceId: string, seq: number): Promise<string | undefined> {
  const [row] = await db
    .select({ hash: events.hash })
    .from(events)
    .where(and(eq(events.workspaceId, workspaceId), eq(events.seq, seq)));
  return row?.hash;
}
