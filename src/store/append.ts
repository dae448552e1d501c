/** Appending events: idempotent per (workspace, id), chained, and visible to the outbox relay on commit. */
import { randomUUID } from 'node:crypto';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { categoryOf } from '../catalog.ts';
import type { IncomingEvent, StoredEvent } from '../events.ts';
import { chainHash, GENESIS_HASH } from './chain.ts';
import type { DbOrTx } from './db.ts';
import { eventToRow } from './rows.ts';
import { chainHeads, events } from './schema/index.ts';

/** The channel the relay LISTENs on; the payload is the workspace id. */
export const OUTBOX_CHANNEL = 'audit_outbox';

export interface AppendResult {
  /** Every event's id in request order, duplicates included. */
  ids: string[];
  /** The events stored by this call, in seq order. */
  stored: StoredEvent[];
  duplicates: number;
}

export function newEventId(): string {
  return `evt_${randomUUID().replaceAll('-', '')}`;
}

/**
 * Stores a batch all-or-nothing. Must run inside a transaction (the head row lock is held to commit):
 * use `appendEventsTx` from outside one.
 */
export async function appendEvents(tx: DbOrTx, workspaceId: string, batch: readonly IncomingEvent[]): Promise<AppendResult> {
  const ids = batch.map((event) => event.id ?? newEventId());
  const head = await lockChainHead(tx, workspaceId);

  const existing = await tx
    .select({ id: events.id })
    .from(events)
    .where(and(eq(events.workspaceId, workspaceId), inArray(events.id, [...new Set(ids)])));
  const seen = new Set(existing.map((row) => row.id));

  // Taken after the lock so receivedAt never goes backwards along a workspace's chain.
  const receivedAt = new Date().toISOString();
  let { seq, hash } = head;
  const stored: StoredEvent[] = [];
  for (const [index, event] of batch.entries()) {
    const id = ids[index]!;
    if (seen.has(id)) continue;
    seen.add(id);
    seq += 1;
    const fields = {
      id,
      workspaceId,
      seq,
      type: event.type,
      category: categoryOf(event.type),
      timestamp: event.timestamp ? new Date(event.timestamp).toISOString() : receivedAt,
      receivedAt,
      actor: event.actor,
      resource: event.resource,
      changes: event.changes ?? null,
      context: event.context ?? null,
      metadata: event.metadata ?? null,
    };
    hash = chainHash(hash, fields);
    stored.push({ ...fields, hash });
  }

  if (stored.length > 0) {
    await tx.insert(events).values(stored.map(eventToRow));
    // NOTIFY is delivered at commit, so the relay wakes exactly when the rows become visible.
    await tx.execute(sql`
      with advanced as (
        update ${chainHeads} set seq = ${seq}, hash = ${hash}, updated_at = now()
        where ${chainHeads.workspaceId} = ${workspaceId} returning 1
      )
      select pg_notify(${OUTBOX_CHANNEL}, ${workspaceId}) from advanced`);
  }
  return { ids, stored, duplicates: batch.length - stored.length };
}

/** appendEvents in its own transaction. */
export function appendEventsTx(db: DbOrTx, workspaceId: string, batch: readonly IncomingEvent[]): Promise<AppendResult> {
  return db.transaction((tx) => appendEvents(tx, workspaceId, batch));
}

/** Locks the workspace's chain head for the rest of the transaction, creating it on first use. */
async function lockChainHead(tx: DbOrTx, workspaceId: string): Promise<{ seq: number; hash: string }> {
  const select = () =>
    tx
      .select({ seq: chainHeads.seq, hash: chainHeads.hash })
      .from(chainHeads)
      .where(eq(chainHeads.workspaceId, workspaceId))
      .for('update');
  const [head] = await select();
  if (head) return head;
  await tx.insert(chainHeads).values({ workspaceId, seq: 0, hash: GENESIS_HASH }).onConflictDoNothing();
  const [created] = await select();
  if (!created) throw new Error(`chain head for workspace ${workspaceId} vanished`);
  return created;
}
