/** Appending events: idempotent per (workspace, id), chained, and visible to the outbox relay on commit. */
import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { categoryOf } from '../catalog.ts';
import type { IncomingEvent, StoredEvent } from '../events.ts';
import { canonicalTemplate, GENESIS_HASH, hashLink, type LateFields } from './chain.ts';
import { isDatabaseUnavailable, type DbOrTx } from './db.ts';
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
  const [result] = await appendEventGroups(tx, workspaceId, [batch]);
  return result!;
}

/**
 * Stores several requests' batches for one workspace in one statement, chained in the order given, as
 * if each had been appended alone in turn (a repeat of an id from an earlier group is a duplicate).
 */
export async function appendEventGroups(
  tx: DbOrTx,
  workspaceId: string,
  groups: readonly (readonly IncomingEvent[])[],
): Promise<AppendResult[]> {
  const ids = groups.map((batch) => batch.map((event) => event.id ?? newEventId()));
  // Everything but seq, receivedAt and the hash is prepared before the lock, so concurrent batches of
  // one workspace wait on each other only for the chaining and the insert.
  const prepared = groups.flatMap((batch, group) =>
    batch.map((event, index) => prepareEvent(group, workspaceId, ids[group]![index]!, event)),
  );
  const head = await lockChainHead(tx, workspaceId);
  // Taken under the lock, and never earlier than the head's: receivedAt then never decreases along seq,
  // even between processes whose clocks differ, and the retention purge relies on that.
  const receivedAt = new Date(Math.max(Date.now(), head.receivedAt.getTime())).toISOString();

  // Optimistic: repeats of stored ids are rare, so insert with ON CONFLICT DO NOTHING inside a savepoint
  // and only when some row was skipped roll back and chain again without the ids now known to exist.
  // That saves a lookup per batch; the head lock means no other writer can add ids meanwhile.
  let known = new Set<string>();
  let stored: (StoredEvent & { group: number })[];
  for (;;) {
    stored = chainBatch(prepared, head, known, receivedAt);
    if (stored.length === 0) break;
    const batchRows = stored;
    const conflicts = await tx
      .transaction(async (savepoint) => {
        const inserted = await insertEventRows(savepoint, batchRows);
        if (inserted.size === batchRows.length) return undefined;
        throw new ExistingIds(batchRows.filter((event) => !inserted.has(event.id)).map((event) => event.id));
      })
      .catch((error: unknown) => {
        if (error instanceof ExistingIds) return error.ids;
        throw error;
      });
    if (!conflicts) break;
    known = new Set([...known, ...conflicts]);
  }

  const last = stored.at(-1);
  if (last) {
    // NOTIFY is delivered at commit, so the relay wakes exactly when the rows become visible.
    await tx.execute(sql`
      with advanced as (
        update ${chainHeads} set seq = ${last.seq}, hash = ${last.hash}, updated_at = ${receivedAt}
        where ${chainHeads.workspaceId} = ${workspaceId} returning 1
      )
      select pg_notify(${OUTBOX_CHANNEL}, ${workspaceId}) from advanced`);
  }
  return groups.map((batch, group) => {
    const mine = stored.filter((event) => event.group === group).map(({ group: _, ...event }) => event);
    return { ids: ids[group]!, stored: mine, duplicates: batch.length - mine.length };
  });
}

class ExistingIds extends Error {
  constructor(readonly ids: string[]) {
    super('some ids are already stored');
  }
}

interface PreparedEvent {
  group: number;
  fields: Omit<StoredEvent, 'seq' | 'hash' | 'receivedAt' | 'timestamp'> & { timestamp?: string };
  canonical: (late: LateFields) => string;
}

function prepareEvent(group: number, workspaceId: string, id: string, event: IncomingEvent): PreparedEvent {
  const fields = {
    id,
    workspaceId,
    type: event.type,
    category: categoryOf(event.type),
    // Without one, the timestamp is the receipt time, known only under the lock.
    timestamp: event.timestamp ? new Date(event.timestamp).toISOString() : undefined,
    actor: event.actor,
    resource: event.resource,
    changes: event.changes ?? null,
    context: event.context ?? null,
    metadata: event.metadata ?? null,
  };
  return { group, fields, canonical: canonicalTemplate(fields) };
}

/** Assigns seq and hash to the batch's new events, skipping `known` ids and repeats within the batch. */
function chainBatch(
  prepared: readonly PreparedEvent[],
  head: { seq: number; hash: string },
  known: ReadonlySet<string>,
  receivedAt: string,
): (StoredEvent & { group: number })[] {
  const seen = new Set(known);
  let { seq, hash } = head;
  const stored: (StoredEvent & { group: number })[] = [];
  for (const { group, fields, canonical } of prepared) {
    if (seen.has(fields.id)) continue;
    seen.add(fields.id);
    seq += 1;
    const timestamp = fields.timestamp ?? receivedAt;
    hash = hashLink(hash, canonical({ seq, receivedAt, timestamp }));
    stored.push({ ...fields, timestamp, receivedAt, seq, hash, group });
  }
  return stored;
}

/**
 * One INSERT … SELECT from jsonb_to_recordset, answering which ids it inserted, with the whole batch as a single JSON parameter.
 * Drizzle's multi-row VALUES builds and binds 18 parameters per row, which cost several times the
 * insert itself at 500 rows (see the ingest benchmark); this statement is the same for every batch.
 */
async function insertEventRows(tx: DbOrTx, stored: readonly StoredEvent[]): Promise<Set<string>> {
  const rows = stored.map((event) => ({
    workspace_id: event.workspaceId,
    id: event.id,
    seq: event.seq,
    type: event.type,
    category: event.category,
    timestamp: event.timestamp,
    received_at: event.receivedAt,
    actor_type: event.actor.type,
    actor_id: event.actor.id,
    actor_name: event.actor.name ?? null,
    actor_email: event.actor.email ?? null,
    resource_type: event.resource.type,
    resource_id: event.resource.id,
    resource_name: event.resource.name ?? null,
    changes: event.changes,
    context: event.context,
    metadata: event.metadata,
    hash: event.hash,
  }));
  const inserted = await tx.execute<{ id: string }>(sql`
    insert into ${events} (workspace_id, id, seq, type, category, timestamp, received_at, actor_type, actor_id,
      actor_name, actor_email, resource_type, resource_id, resource_name, changes, context, metadata, hash)
    select * from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as r(
      workspace_id text, id text, seq bigint, type text, category text, timestamp timestamptz,
      received_at timestamptz, actor_type text, actor_id text, actor_name text, actor_email text,
      resource_type text, resource_id text, resource_name text, changes jsonb, context jsonb,
      metadata jsonb, hash text)
    on conflict (workspace_id, id) do nothing
    returning id`);
  return new Set(inserted.map((row) => row.id));
}

/** appendEvents in its own transaction. */
export function appendEventsTx(db: DbOrTx, workspaceId: string, batch: readonly IncomingEvent[]): Promise<AppendResult> {
  return db.transaction((tx) => appendEvents(tx, workspaceId, batch));
}

/**
 * Locks the workspace's chain head for the rest of the transaction, creating it on first use. Its
 * updated_at is the receivedAt of the newest event (an older head: the time of its last append).
 */
async function lockChainHead(
  tx: DbOrTx,
  workspaceId: string,
): Promise<{ seq: number; hash: string; receivedAt: Date }> {
  const select = () =>
    tx
      .select({ seq: chainHeads.seq, hash: chainHeads.hash, receivedAt: chainHeads.updatedAt })
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

/**
 * Group commit for one process: while a workspace's transaction runs, batches for that workspace queue
 * up and go together in the next one. Each request still gets its own all-or-nothing answer, but a busy
 * workspace pays one lock hand-off, one statement and one commit per group instead of per request.
 */
export class EventAppender {
  private readonly queues = new Map<string, Waiter[]>();

  private readonly waiting = new Map<string, number>();

  constructor(
    private readonly db: DbOrTx,
    private readonly limits: {
      /** A group closes once it holds this many events, so one transaction stays a bounded size. */
      maxEventsPerGroup?: number;
      /** Events a workspace may have waiting for Postgres before new batches are turned away. */
      maxWaitingEvents?: number;
    } = {},
  ) {}

  /**
   * Stores the batch with the next group of its workspace. Rejects with AppendersBusy, storing nothing,
   * when that workspace already has maxWaitingEvents waiting: memory stays bounded and the producer is
   * told to back off, instead of every request slowing down until they all time out.
   */
  append(workspaceId: string, batch: readonly IncomingEvent[]): Promise<AppendResult> {
    const waiting = this.waiting.get(workspaceId) ?? 0;
    if (waiting > 0 && waiting + batch.length > (this.limits.maxWaitingEvents ?? 20_000)) {
      return Promise.reject(new AppendersBusy(workspaceId, waiting));
    }
    this.waiting.set(workspaceId, waiting + batch.length);
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(workspaceId);
      if (queue) {
        queue.push({ batch, resolve, reject });
        return;
      }
      this.queues.set(workspaceId, [{ batch, resolve, reject }]);
      void this.drain(workspaceId);
    });
  }

  private async drain(workspaceId: string): Promise<void> {
    const queue = this.queues.get(workspaceId)!;
    while (queue.length > 0) {
      const group: Waiter[] = [];
      let size = 0;
      while (queue.length > 0 && (group.length === 0 || size + queue[0]!.batch.length <= (this.limits.maxEventsPerGroup ?? 4000))) {
        const next = queue.shift()!;
        size += next.batch.length;
        group.push(next);
      }
      try {
        const results = await this.commit(workspaceId, group.map((g) => g.batch));
        for (const [index, waiter] of group.entries()) waiter.resolve(results[index]!);
      } catch (error) {
        // A Postgres that is down or out of time fails every request alike: retrying one by one would
        // only hold them longer.
        if (group.length === 1 || isDatabaseUnavailable(error)) {
          for (const waiter of group) waiter.reject(error);
        }
        else await this.commitOneByOne(workspaceId, group);
      } finally {
        this.waiting.set(workspaceId, (this.waiting.get(workspaceId) ?? 0) - size);
      }
    }
    this.queues.delete(workspaceId);
    this.waiting.delete(workspaceId);
  }

  private commit(workspaceId: string, batches: readonly (readonly IncomingEvent[])[]): Promise<AppendResult[]> {
    return this.db.transaction((tx) => appendEventGroups(tx, workspaceId, batches));
  }

  /**
   * A failed group transaction stored nothing, and the failure may belong to one request alone (something
   * only Postgres could refuse): each request then gets a transaction of its own, in the same order, so a
   * request's failure never touches another request's events. Only a failing group pays for this.
   */
  private async commitOneByOne(workspaceId: string, group: readonly Waiter[]): Promise<void> {
    for (const waiter of group) {
      try {
        const [result] = await this.commit(workspaceId, [waiter.batch]);
        waiter.resolve(result!);
      } catch (error) {
        waiter.reject(error);
      }
    }
  }
}

interface Waiter {
  batch: readonly IncomingEvent[];
  resolve: (result: AppendResult) => void;
  reject: (error: unknown) => void;
}

export class AppendersBusy extends Error {
  constructor(
    readonly workspaceId: string,
    readonly waitingEvents: number,
  ) {
    super(`workspace ${workspaceId} already has ${waitingEvents} events waiting to be stored`);
    this.name = 'AppendersBusy';
  }
}
