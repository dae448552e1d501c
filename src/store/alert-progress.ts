/**
 * The alert watermark per workspace (schema/alert-progress.ts): recorded as alert jobs finish, read by the Redis wipe
 * recovery and the metrics.
 */
import { sql } from 'drizzle-orm';
import type { DbOrTx } from './db.ts';
import { alertProgress, chainHeads, outboxCursors } from './schema/index.ts';

export interface SeqRange {
  workspaceId: string;
  fromSeq: number;
  toSeq: number;
}

/**
 * Records that every event of `range` has been through the rules and moves the watermark over every finished range now
 * joined to it; answers the watermark, or undefined when the workspace has no progress row (a job queued before there
 * were any). One statement: the row lock orders finishes racing on other workers, and the union of ranges is
 * idempotent, so a range recorded twice (a retried job, a range queued again after Redis lost its jobs) changes
 * nothing.
 */
export async function recordRangeAlerted(db: DbOrTx, range: SeqRange): Promise<number | undefined> {
  const { workspaceId, fromSeq, toSeq } = range;
  // [0, alerted_seq] is put in so that the first range of the union always starts at 0: its end is the new watermark.
  const rows = await db.execute<{ alerted_seq: string }>(sql`
    with merged as (
      select ${alertProgress.doneAbove}
               + int8multirange(int8range(0, ${alertProgress.alertedSeq}, '[]'), int8range(${fromSeq}, ${toSeq}, '[]'))
               as done
      from ${alertProgress} where ${alertProgress.workspaceId} = ${workspaceId}
      for update
    ), advanced as (
      select done, (select upper(r) - 1 from unnest(done) as r order by r limit 1) as seq from merged
    )
    update ${alertProgress}
    set alerted_seq = advanced.seq,
        done_above = advanced.done - int8multirange(int8range(0, advanced.seq, '[]')),
        updated_at = now()
    from advanced
    where ${alertProgress.workspaceId} = ${workspaceId}
    returning ${alertProgress.alertedSeq}`);
  const [row] = rows;
  return row ? Number(row.alerted_seq) : undefined;
}

/**
 * Creates the workspace's progress row if missing, at its outbox cursor: the first time this version relays a
 * workspace, what earlier versions queued one job per event is taken as done, as they would have left it.
 */
export async function ensureAlertProgress(db: DbOrTx, workspaceId: string): Promise<void> {
  await db.execute(sql`
    insert into ${alertProgress} (workspace_id, alerted_seq)
    select ${workspaceId}, coalesce((select ${outboxCursors.relayedSeq} from ${outboxCursors}
                                     where ${outboxCursors.workspaceId} = ${workspaceId}), 0)
    on conflict do nothing`);
}

/** A workspace whose outbox cursor moved back to its alert watermark: seqs fromSeq..toSeq go on the queue again. */
export type Rewound = SeqRange;

/**
 * After Redis lost its jobs: moves every outbox cursor that is ahead of its alert watermark back to it, so the relay
 * queues again every event not yet fully alerted. Waits for a relay holding a cursor row to commit first.
 */
export async function rewindOutboxToAlerted(tx: DbOrTx): Promise<Rewound[]> {
  const rows = await tx.execute<{ workspace_id: string; alerted: string; relayed: string }>(sql`
    with behind as (
      select c.workspace_id, c.relayed_seq as relayed, p.alerted_seq as alerted
      from ${outboxCursors} c join ${alertProgress} p on p.workspace_id = c.workspace_id
      where c.relayed_seq > p.alerted_seq
      for update of c
    )
    update ${outboxCursors} c set relayed_seq = behind.alerted, updated_at = now()
    from behind
    where c.workspace_id = behind.workspace_id
    returning behind.workspace_id, behind.alerted, behind.relayed`);
  return rows.map((row) => ({
    workspaceId: row.workspace_id,
    fromSeq: Number(row.alerted) + 1,
    toSeq: Number(row.relayed),
  }));
}

/** Events stored but not yet through the alert rules, across workspaces (a metric). */
export async function alertLag(db: DbOrTx): Promise<number> {
  const [row] = await db.execute<{ lag: string }>(sql`
    select coalesce(sum(h.seq - coalesce(p.alerted_seq, c.relayed_seq, 0)), 0) as lag
    from ${chainHeads} h
    left join ${alertProgress} p on p.workspace_id = h.workspace_id
    left join ${outboxCursors} c on c.workspace_id = h.workspace_id`);
  return Number(row?.lag ?? 0);
}
