/** Walks a workspace's hash chain from its retention checkpoint to its head. */
import { and, asc, eq, gt, sql } from 'drizzle-orm';
import { chainHash, GENESIS_HASH } from './chain.ts';
import type { DbOrTx } from './db.ts';
import { rowToEvent } from './rows.ts';
import { chainCheckpoints, chainHeads, events } from './schema/index.ts';

export type VerifyResult =
  | { ok: true; workspaceId: string; count: number; head: string }
  | { ok: false; workspaceId: string; seq: number; reason: string };

const PAGE = 5000;

export async function verifyChain(db: DbOrTx, workspaceId: string): Promise<VerifyResult> {
  const [checkpoint] = await db.select().from(chainCheckpoints).where(eq(chainCheckpoints.workspaceId, workspaceId));
  const [head] = await db.select().from(chainHeads).where(eq(chainHeads.workspaceId, workspaceId));
  let seq = checkpoint?.seq ?? 0;
  let hash = checkpoint?.hash ?? GENESIS_HASH;
  let count = 0;
  const fail = (at: number, reason: string): VerifyResult => ({ ok: false, workspaceId, seq: at, reason });

  for (;;) {
    const rows = await db
      .select()
      .from(events)
      .where(and(eq(events.workspaceId, workspaceId), gt(events.seq, seq)))
      .orderBy(asc(events.seq))
      .limit(PAGE);
    for (const row of rows) {
      if (row.seq !== seq + 1) return fail(seq + 1, `event with seq ${seq + 1} is missing`);
      const { hash: stored, ...fields } = rowToEvent(row);
      const expected = chainHash(hash, fields);
      if (stored !== expected)
        return fail(row.seq, `hash mismatch for event ${row.id}: the event or its hash was changed`);
      seq = row.seq;
      hash = stored;
      count += 1;
    }
    if (rows.length < PAGE) break;
  }
  // The head row catches the one edit the walk cannot see: deleting the newest events.
  if (!head && seq > 0) return fail(seq + 1, `the chain head is missing but events run to seq ${seq}`);
  const headSeq = head?.seq ?? 0;
  if (headSeq !== seq) return fail(seq + 1, `chain head is at seq ${headSeq} but events end at ${seq}`);
  if (head && head.hash !== hash) return fail(seq, 'chain head hash does not match the last event');
  return { ok: true, workspaceId, count, head: hash };
}

export async function listWorkspaces(db: DbOrTx): Promise<string[]> {
  const rows = await db
    .select({ workspaceId: chainHeads.workspaceId })
    .from(chainHeads)
    .orderBy(asc(chainHeads.workspaceId));
  return rows.map((row) => row.workspaceId);
}

/**
 * Every workspace with anything of a chain stored: a head, a retention checkpoint or events. Deleting a workspace's
 * head row must not take its events out of `verify`, so the events are asked too, one index probe per workspace (a
 * loose scan of the primary key, which starts with workspace_id) rather than a scan of every event.
 */
export async function workspacesToVerify(db: DbOrTx): Promise<string[]> {
  const rows = await db.execute<{ workspace_id: string }>(sql`
    with recursive stored(workspace_id) as (
      select min(workspace_id) from ${events}
      union all
      select (select min(e.workspace_id) from ${events} e where e.workspace_id > stored.workspace_id)
      from stored where stored.workspace_id is not null
    )
    select workspace_id from stored where workspace_id is not null
    union select workspace_id from ${chainHeads}
    union select workspace_id from ${chainCheckpoints}
    order by workspace_id`);
  return rows.map((row) => row.workspace_id);
}
