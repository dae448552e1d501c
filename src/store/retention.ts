/** Retention: purges events received more than RETENTION_DAYS ago, leaving a chain checkpoint. */
import { and, eq, gt, lt, lte, max, sql } from 'drizzle-orm';
import type { DbOrTx } from './db.ts';
import { chainCheckpoints, events } from './schema/index.ts';
import { listWorkspaces } from './verify.ts';

const DELETE_CHUNK = 10_000;

export interface PurgeResult {
  workspaceId: string;
  purged: number;
  checkpointSeq: number;
}

/**
 * Purges by receipt time, not producer time: receivedAt only grows along a chain, so what is purged is
 * always a prefix of seq and the checkpoint (last purged seq and hash) lets verify start after it.
 */
export async function purgeExpiredEvents(db: DbOrTx, retentionDays: number, now = new Date()): Promise<PurgeResult[]> {
  const cutoff = new Date(now.getTime() - retentionDays * 86_400_000);
  const results: PurgeResult[] = [];
  for (const workspaceId of await listWorkspaces(db)) {
    const [boundary] = await db
      .select({ seq: max(events.seq) })
      .from(events)
      .where(and(eq(events.workspaceId, workspaceId), lt(events.receivedAt, cutoff)));
    const upTo = boundary?.seq === null || boundary?.seq === undefined ? undefined : Number(boundary.seq);
    if (upTo === undefined) continue;
    const [last] = await db
      .select({ hash: events.hash })
      .from(events)
      .where(and(eq(events.workspaceId, workspaceId), eq(events.seq, upTo)));
    if (!last) continue;
    // Checkpoint first: a crash mid-delete leaves extra old rows, which verify skips, never a broken chain.
    await db
      .insert(chainCheckpoints)
      .values({ workspaceId, seq: upTo, hash: last.hash })
      .onConflictDoUpdate({
        target: chainCheckpoints.workspaceId,
        set: { seq: upTo, hash: last.hash, purgedAt: sql`now()` },
        setWhere: lt(chainCheckpoints.seq, upTo),
      });
    let purged = 0;
    for (;;) {
      // Chunked so a large purge never holds long locks or one huge transaction.
      const deleted = await db.execute<{ n: number }>(sql`
        with doomed as (
          select ${events.workspaceId}, ${events.id} from ${events}
          where ${and(eq(events.workspaceId, workspaceId), lte(events.seq, upTo), gt(events.seq, 0))}
          limit ${DELETE_CHUNK}
        )
        delete from ${events} e using doomed d
        where e.workspace_id = d.workspace_id and e.id = d.id`);
      const count = deleted.count ?? 0;
      purged += count;
      if (count < DELETE_CHUNK) break;
    }
    results.push({ workspaceId, purged, checkpointSeq: upTo });
  }
  return results;
}
