/** Appending events: idempotent per (workspace, id), chained, and visible to the outbox relay on commit. */
import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import { categoryOf } from '../catalog.ts';
import type { IncomingEvent, StoredEvent } from '../events.ts';
import { canonicalTemplate, GENESIS_HASH, hashLink } from './chain.ts';
import type { DbOrTx } from './db.ts';
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
  const [result] = await appendEventGroups(tx, workspaceId, [prepareBatch(workspaceId, batch)]);
  return result!;
}

/** A request's events ready to be chained: ids assigned, and everything but seq and hash serialized. */
export interface PreparedBatch {
  ids: string[];
  events: PreparedEvent[];
}

/**
 * Everything about a batch that does not need the workspace lock. The group commit calls this when a request
 * arrives, so that it runs while Postgres is busy with the previous group rather than while the lock is held.
 */
export function prepareBatch(workspaceId: string, batch: readonly IncomingEvent[], receivedAt = new Date().toISOString()): PreparedBatch {
  const ids = batch.map((event) => event.id ?? newEventId());
  return { ids, events: batch.map((event, index) => prepareEvent(workspaceId, ids[index]!, event, receivedAt)) };
}

/**
 * Stores several requests' batches for one workspace in one statement, chained in the order given, as
 * if each had been appended alone in turn (a repeat of an id from an earlier group is a duplicate).
 */
export async function appendEventGroups(
  tx: DbOrTx,
  workspaceId: string,
  groups: readonly PreparedBatch[],
): Promise<AppendResult[]> {
  const head = await lockChainHead(tx, workspaceId);

  // Optimistic: repeats of stored ids are rare, so insert with ON CONFLICT DO NOTHING inside a savepoint
  // and only when some row was skipped roll back and chain again without the ids now known to exist.
  // That saves a lookup per batch; the head lock means no other writer can add ids meanwhile.
  let known = new Set<string>();
  let chained: Chained;
  for (;;) {
    chained = chainBatch(groups, head, known);
    if (chained.rows.length === 0) break;
    const { rows, stored } = chained;
    const conflicts = await tx
      .transaction(async (savepoint) => {
        const inserted = await insertEventRows(savepoint, rows);
        if (inserted.size === rows.length) return undefined;
        throw new ExistingIds(stored.filter(({ event }) => !inserted.has(event.id)).map(({ event }) => event.id));
      })
      .catch((error: unknown) => {
        if (error instanceof ExistingIds) return error.ids;
        throw error;
      });
    if (!conflicts) break;
    known = new Set([...known, ...conflicts]);
  }

  const last = chained.stored.at(-1)?.event;
  if (last) {
    // NOTIFY is delivered at commit, so the relay wakes exactly when the rows become visible.
    await tx.execute(sql`
      with advanced as (
        update ${chainHeads} set seq = ${last.seq}, hash = ${last.hash}, updated_at = now()
        where ${chainHeads.workspaceId} = ${workspaceId} returning 1
      )
      select pg_notify(${OUTBOX_CHANNEL}, ${workspaceId}) from advanced`);
  }
  // Events are chained in group order, so each group's stored events are the next run of them.
  let at = 0;
  return groups.map((batch) => {
    const start = at;
    while (at < chained.stored.length && chained.stored[at]!.group === batch) at++;
    const mine = chained.stored.slice(start, at).map((entry) => entry.event);
    return { ids: batch.ids, stored: mine, duplicates: batch.events.length - mine.length };
  });
}

class ExistingIds extends Error {
  constructor(readonly ids: string[]) {
    super('some ids are already stored');
  }
}

interface PreparedEvent {
  fields: Omit<StoredEvent, 'seq' | 'hash'>;
  canonical: (seq: number) => string;
}

function prepareEvent(workspaceId: string, id: string, event: IncomingEvent, receivedAt: string): PreparedEvent {
  const fields = {
    id,
    workspaceId,
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
  return { fields, canonical: canonicalTemplate(fields) };
}

interface Chained {
  /** The new events in seq order, each with the batch it came from (by identity: groups may be equal). */
  stored: { event: StoredEvent; group: PreparedBatch }[];
  /** Each new event as its insert row: its canonical JSON with the hash added (see insertEventRows). */
  rows: string[];
}

/** Assigns seq and hash to the new events, skipping `known` ids and repeats within and across batches. */
function chainBatch(groups: readonly PreparedBatch[], head: { seq: number; hash: string }, known: ReadonlySet<string>): Chained {
  const seen = new Set(known);
  let { seq, hash } = head;
  const chained: Chained = { stored: [], rows: [] };
  for (const group of groups) {
    for (const { fields, canonical } of group.events) {
      if (seen.has(fields.id)) continue;
      seen.add(fields.id);
      seq += 1;
      const text = canonical(seq);
      hash = hashLink(hash, text);
      chained.stored.push({ event: { ...fields, seq, hash }, group });
      // The canonical JSON was just hashed, so it is flat: the row is a concatenation, not a second stringify.
      chained.rows.push(`{"hash":"${hash}",${text.slice(1)}`);
    }
  }
  return chained;
}

/**
 * One INSERT … SELECT from jsonb_to_recordset, answering which ids it inserted, with the whole batch as one JSON
 * parameter: each row is the event's canonical JSON (already made for its hash) with the hash added, and nested
 * actor and resource are taken apart in SQL. Drizzle's multi-row VALUES builds and binds 18 parameters per row, which
 * cost several times the insert itself at 500 rows, and stringifying each event a second time cost as much as making
 * it the first time (see the ingest benchmark); this statement is the same for every batch.
 */
async function insertEventRows(tx: DbOrTx, rows: readonly string[]): Promise<Set<string>> {
  const inserted = await tx.execute<{ id: string }>(sql`
    insert into ${events} (workspace_id, id, seq, type, category, timestamp, received_at, actor_type, actor_id,
      actor_name, actor_email, resource_type, resource_id, resource_name, changes, context, metadata, hash)
    select r."workspaceId", r.id, r.seq, r.type, r.category, r.timestamp, r."receivedAt", r.actor->>'type',
      r.actor->>'id', r.actor->>'name', r.actor->>'email', r.resource->>'type', r.resource->>'id',
      r.resource->>'name', r.changes, r.context, r.metadata, r.hash
    from jsonb_to_recordset(${`[${rows.join(',')}]`}::jsonb) as r(
      "workspaceId" text, id text, seq bigint, type text, category text, timestamp timestamptz,
      "receivedAt" timestamptz, actor jsonb, resource jsonb, changes jsonb, context jsonb, metadata jsonb, hash text)
    on conflict (workspace_id, id) do nothing
    returning id`);
  return new Set(inserted.map((row) => row.id));
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

/**
 * Group commit for one process: while a workspace's transaction runs, batches for that workspace queue
 * up and go together in the next one. Each request still gets its own all-or-nothing answer, but a busy
 * workspace pays one lock hand-off, one statement and one commit per group instead of per request.
 */
export class EventAppender {
  private readonly queues = new Map<string, { batch: PreparedBatch; resolve: (r: AppendResult) => void; reject: (e: unknown) => void }[]>();

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
    // Prepared now, while an earlier group may hold the lock, so that the transaction does only the chaining.
    const prepared = prepareBatch(workspaceId, batch);
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(workspaceId);
      if (queue) {
        queue.push({ batch: prepared, resolve, reject });
        return;
      }
      this.queues.set(workspaceId, [{ batch: prepared, resolve, reject }]);
      void this.drain(workspaceId);
    });
  }

  private async drain(workspaceId: string): Promise<void> {
    const queue = this.queues.get(workspaceId)!;
    while (queue.length > 0) {
      const group: typeof queue = [];
      let size = 0;
      while (queue.length > 0 && (group.length === 0 || size + queue[0]!.batch.events.length <= (this.limits.maxEventsPerGroup ?? 4000))) {
        const next = queue.shift()!;
        size += next.batch.events.length;
        group.push(next);
      }
      try {
        const results = await this.db.transaction((tx) => appendEventGroups(tx, workspaceId, group.map((g) => g.batch)));
        for (const [index, waiter] of group.entries()) waiter.resolve(results[index]!);
      } catch (error) {
        for (const waiter of group) waiter.reject(error);
      } finally {
        this.waiting.set(workspaceId, (this.waiting.get(workspaceId) ?? 0) - size);
      }
    }
    this.queues.delete(workspaceId);
    this.waiting.delete(workspaceId);
  }
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
