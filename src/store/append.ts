/** Appending events: idempotent per (workspace, id), chained, and visible to the outbox relay on commit. */
import { randomUUID } from 'node:crypto';
import { and, eq, inArray, sql } from 'drizzle-orm';
import { categoryOf } from '../catalog.ts';
import type { IncomingEvent, StoredEvent } from '../events.ts';
import {
  type CanonicalTemplate,
  canonicalOf,
  canonicalTemplate,
  type EarlyFields,
  fillTemplate,
  GENESIS_HASH,
  hashLink,
} from './chain.ts';
import { type DbOrTx, isDatabaseUnavailable } from './db.ts';
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
export async function appendEvents(
  tx: DbOrTx,
  workspaceId: string,
  batch: readonly IncomingEvent[],
): Promise<AppendResult> {
  const { results } = await appendEventGroups(tx, workspaceId, [prepareBatch(workspaceId, batch)]);
  return results[0]!;
}

/** A request's events ready to be chained: ids assigned, and everything but seq, receivedAt and hash serialized. */
export interface PreparedBatch {
  ids: string[];
  events: PreparedEvent[];
}

/**
 * Everything about a batch that does not need the workspace lock. The group commit calls this when a request
 * arrives, so that it runs while Postgres is busy with the previous group rather than while the lock is held.
 * `known` maps objects of the events (actor, resource, changes, context, metadata) to their canonical JSON where
 * the caller has made it already.
 */
export function prepareBatch(
  workspaceId: string,
  batch: readonly IncomingEvent[],
  known?: ReadonlyMap<object, string>,
): PreparedBatch {
  const ids = batch.map((event) => event.id ?? newEventId());
  return { ids, events: batch.map((event, index) => prepareEvent(workspaceId, ids[index]!, event, known)) };
}

/** Where a workspace's chain ends: the last event's seq and hash, and its receivedAt. */
export interface ChainHead {
  seq: number;
  hash: string;
  receivedAt: Date;
}

/**
 * Stores several requests' batches for one workspace in one statement, chained in the order given, as
 * if each had been appended alone in turn (a repeat of an id from an earlier group is a duplicate).
 * Must run inside a transaction: the head row stays locked until it commits. Answers the head it leaves.
 */
export async function appendEventGroups(
  tx: DbOrTx,
  workspaceId: string,
  groups: readonly PreparedBatch[],
): Promise<{ results: AppendResult[]; head: ChainHead }> {
  const head = await lockChainHead(tx, workspaceId);
  const receivedAt = receivedAfter(head);

  // Optimistic: repeats of stored ids are rare, so the rows are inserted and the head advanced in one statement, in
  // a savepoint. When an id is stored already, the savepoint is rolled back and the batch chained anew without the ids
  // now known to exist (the head lock means no other writer adds ids meanwhile). That saves a lookup per batch.
  let known = new Set<string>();
  let chained: Chained;
  for (;;) {
    chained = chainBatch(groups, head, known, receivedAt);
    if (chained.rows.length === 0) break;
    try {
      await insertInSavepoint(tx, workspaceId, head, chained, receivedAt);
      break;
    } catch (error) {
      if (!(error instanceof DuplicateIds)) throw error;
      known = new Set([...known, ...error.ids]);
    }
  }
  return { results: resultsOf(groups, chained), head: headAfter(chained, receivedAt) ?? head };
}

/**
 * The group commit's usual way, in one round trip: the batches chained onto `guess`, the head this process left at
 * its last commit, and stored by one statement in a transaction of its own, which stores nothing unless the head is
 * still there. Undefined when it is not (another process or another path appended since) or when an id is stored
 * already: appendEventGroups then does it the careful way. Before this, BEGIN, the lock, a savepoint, the insert and
 * COMMIT each took a round trip, while the process was busy with the next requests: in the benchmark the lock was
 * held twice as long as Postgres took to store the rows.
 */
async function appendOnGuess(
  db: DbOrTx,
  workspaceId: string,
  groups: readonly PreparedBatch[],
  guess: ChainHead,
): Promise<{ results: AppendResult[]; head: ChainHead } | undefined> {
  // The statement stores nothing if the head is not this one, so this is the head's receivedAt rule all the same.
  const receivedAt = receivedAfter(guess);
  const chained = chainBatch(groups, guess, new Set(), receivedAt);
  try {
    const advanced = await db.execute(storeChained(workspaceId, guess, chained, receivedAt));
    if (advanced.length === 0) return undefined;
  } catch (error) {
    if (isDuplicateEventId(error)) return undefined;
    throw error;
  }
  return { results: resultsOf(groups, chained), head: headAfter(chained, receivedAt)! };
}

/**
 * The receivedAt of what is appended onto `head`: now, but never earlier than the head's, so that receivedAt never
 * decreases along seq, even between processes whose clocks differ (the retention purge relies on that).
 */
function receivedAfter(head: ChainHead): string {
  return new Date(Math.max(Date.now(), head.receivedAt.getTime())).toISOString();
}

/** Events are chained in group order, so each group's stored events are the next run of them. */
function resultsOf(groups: readonly PreparedBatch[], chained: Chained): AppendResult[] {
  let at = 0;
  return groups.map((batch) => {
    const start = at;
    while (at < chained.stored.length && chained.stored[at]!.group === batch) at++;
    const mine = chained.stored.slice(start, at).map((entry) => entry.event);
    return { ids: batch.ids, stored: mine, duplicates: batch.events.length - mine.length };
  });
}

function headAfter(chained: Chained, receivedAt: string): ChainHead | undefined {
  const last = chained.stored.at(-1)?.event;
  return last && { seq: last.seq, hash: last.hash, receivedAt: new Date(receivedAt) };
}

interface PreparedEvent {
  fields: EarlyFields;
  canonical: CanonicalTemplate;
  /** The insert row's cells after seq, hash, receivedAt and timestamp, as JSON (see storeChained). */
  rowTail: string;
}

function prepareEvent(
  workspaceId: string,
  id: string,
  event: IncomingEvent,
  known: ReadonlyMap<object, string> | undefined,
): PreparedEvent {
  const fields: EarlyFields = {
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
  // Made here, before the lock: under it the row is only a concatenation. Optional fields absent are null, as JSON
  // has no undefined; JSON null in the object cells is turned into SQL NULL by the insert. The object cells are their
  // canonical text, made for the hash anyway (jsonb keeps no key order, so what is stored is the same).
  const { actor, resource } = fields;
  const cells = JSON.stringify([
    id,
    fields.type,
    fields.category,
    actor.type,
    actor.id,
    actor.name ?? null,
    actor.email ?? null,
    resource.type,
    resource.id,
    resource.name ?? null,
  ]);
  const { changes, context, metadata } = fields;
  // Joined, so one flat string waits for the lock (see canonicalTemplate).
  const rowTail = [cells.slice(1, -1), ...[changes, context, metadata].map((value) => canonicalOf(value, known))].join(
    ',',
  );
  return { fields, canonical: canonicalTemplate(fields, known), rowTail };
}

interface Chained {
  /** The new events in seq order, each with the batch it came from (by identity: groups may be equal). */
  stored: { event: StoredEvent; group: PreparedBatch }[];
  /** Each new event as its insert row, a JSON array (see storeChained). */
  rows: string[];
}

/** Assigns seq and hash to the new events, skipping `known` ids and repeats within and across batches. */
function chainBatch(
  groups: readonly PreparedBatch[],
  head: { seq: number; hash: string },
  known: ReadonlySet<string>,
  receivedAt: string,
): Chained {
  const seen = new Set(known);
  let { seq, hash } = head;
  const chained: Chained = { stored: [], rows: [] };
  for (const group of groups) {
    for (const { fields, canonical, rowTail } of group.events) {
      if (seen.has(fields.id)) continue;
      seen.add(fields.id);
      seq += 1;
      const timestamp = fields.timestamp ?? receivedAt;
      hash = hashLink(hash, fillTemplate(canonical, seq, receivedAt));
      chained.stored.push({ event: { ...fields, timestamp, receivedAt, seq, hash }, group });
      // seq and hash are numbers and hex, the times ISO strings from toISOString: none needs escaping.
      chained.rows.push(`[${seq},"${hash}","${receivedAt}","${timestamp}",${rowTail}]`);
    }
  }
  return chained;
}

/**
 * One statement: the chain head moved from `from` to the last event, and an INSERT … SELECT of the rows, both only
 * when the head is at `from` (always so under the lock; see appendOnGuess for when it is a guess), with a NOTIFY for
 * the relay (delivered at commit, so the relay wakes exactly when the rows become visible). Answers one row when it
 * stored them, none when the head was elsewhere. The whole batch is one JSON parameter, each row an array of its
 * cells in the order `[seq, hash, receivedAt, timestamp, id, type, category, actor type, id, name, email, resource
 * type, id, name, changes, context, metadata]`, made before the lock but for the first four.
 *
 * A row whose id is stored already fails the statement (a unique violation): repeats of stored ids are rare, and ON
 * CONFLICT DO NOTHING made Postgres probe the index for every row before inserting it (measured over 30k events:
 * Postgres CPU 2.2 s with it, 1.8 s without).
 *
 * Why the rest is so (measured, 30k events in batches of 1,000): Drizzle's multi-row VALUES binds 18 parameters per
 * row, which cost several times the insert itself; rows as objects made Postgres parse every key of every row (its CPU
 * for the statements 1.10 s, against 0.87 s for arrays); and each further round trip (a separate head update, a lookup
 * of stored ids first) added to every batch. COPY would parse less, but postgres.js leaves a COPY that Postgres refuses
 * waiting for ever, holding its transaction open (porsager/postgres#1173).
 */
function storeChained(workspaceId: string, from: ChainHead, chained: Chained, receivedAt: string) {
  const last = chained.stored.at(-1)!.event;
  return sql`
    with advanced as (
      update ${chainHeads} set seq = ${last.seq}, hash = ${last.hash}, updated_at = ${receivedAt}::timestamptz
      where ${chainHeads.workspaceId} = ${workspaceId} and ${chainHeads.seq} = ${from.seq}
        and ${chainHeads.hash} = ${from.hash}
        -- receivedAt never before the head's (its ms: a JavaScript Date has no µs), as another process may have set it
        and date_trunc('milliseconds', ${chainHeads.updatedAt}) <= ${receivedAt}::timestamptz
      returning workspace_id
    ), inserted as (
      insert into ${events} (workspace_id, id, seq, type, category, timestamp, received_at, actor_type, actor_id,
        actor_name, actor_email, resource_type, resource_id, resource_name, changes, context, metadata, hash)
      select ${workspaceId}::text, r->>4, (r->>0)::bigint, r->>5, r->>6, (r->>3)::timestamptz, (r->>2)::timestamptz,
        r->>7, r->>8, r->>9, r->>10, r->>11, r->>12, r->>13, nullif(r->14, 'null'), nullif(r->15, 'null'),
        nullif(r->16, 'null'), r->>1
      from jsonb_array_elements(${`[${chained.rows.join(',')}]`}::jsonb) as r
      where exists (select from advanced)
    )
    select pg_notify(${OUTBOX_CHANNEL}, workspace_id) from advanced`;
}

/**
 * storeChained under the head lock, in a savepoint: a stored id rolls back only the savepoint, and DuplicateIds names
 * the ids stored, for the caller to chain the batch anew without them.
 */
async function insertInSavepoint(
  tx: DbOrTx,
  workspaceId: string,
  head: ChainHead,
  chained: Chained,
  receivedAt: string,
): Promise<void> {
  try {
    const advanced = await tx.transaction((savepoint) =>
      savepoint.execute(storeChained(workspaceId, head, chained, receivedAt)),
    );
    if (advanced.length === 0) throw new Error(`the chain head of workspace ${workspaceId} moved under its lock`);
  } catch (error) {
    if (!isDuplicateEventId(error)) throw error;
    // The head lock keeps other writers out, so what is stored now stays so until this transaction ends.
    const ids = chained.stored.map(({ event }) => event.id);
    const stored = await tx
      .select({ id: events.id })
      .from(events)
      .where(and(eq(events.workspaceId, workspaceId), inArray(events.id, ids)));
    // With none found, chaining again would fail the same way for ever: the failure is passed on instead.
    if (stored.length === 0) throw error;
    throw new DuplicateIds(stored.map((row) => row.id));
  }
}

/** A batch met ids stored already: they are to be left out and the rest chained again. */
class DuplicateIds extends Error {
  constructor(readonly ids: string[]) {
    super(`${ids.length} id(s) are stored already`);
    this.name = 'DuplicateIds';
  }
}

function isDuplicateEventId(error: unknown): boolean {
  for (let at = error, depth = 0; at !== null && typeof at === 'object' && depth < 5; depth++) {
    const { code, constraint_name: constraint } = at as { code?: unknown; constraint_name?: unknown };
    if (code === '23505' && constraint === 'events_pkey') return true;
    at = (at as { cause?: unknown }).cause;
  }
  return false;
}

/** appendEvents in its own transaction. */
export function appendEventsTx(
  db: DbOrTx,
  workspaceId: string,
  batch: readonly IncomingEvent[],
): Promise<AppendResult> {
  return db.transaction((tx) => appendEvents(tx, workspaceId, batch));
}

/**
 * Locks the workspace's chain head for the rest of the transaction, creating it on first use. Its
 * updated_at is the receivedAt of the newest event (an older head: the time of its last append).
 */
async function lockChainHead(tx: DbOrTx, workspaceId: string): Promise<ChainHead> {
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

  /** Each workspace's chain head as this appender's last commit left it: a guess, which appendOnGuess checks. */
  private readonly heads = new Map<string, ChainHead>();

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
  append(
    workspaceId: string,
    batch: readonly IncomingEvent[],
    known?: ReadonlyMap<object, string>,
  ): Promise<AppendResult> {
    const waiting = this.waiting.get(workspaceId) ?? 0;
    if (waiting > 0 && waiting + batch.length > (this.limits.maxWaitingEvents ?? 20_000)) {
      return Promise.reject(new AppendersBusy(workspaceId, waiting));
    }
    this.waiting.set(workspaceId, waiting + batch.length);
    // Prepared now, while an earlier group may hold the lock, so that the transaction does only the chaining.
    const prepared = prepareBatch(workspaceId, batch, known);
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
      const group: Waiter[] = [];
      let size = 0;
      const maxEvents = this.limits.maxEventsPerGroup ?? 4000;
      while (queue.length > 0 && (group.length === 0 || size + queue[0]!.batch.events.length <= maxEvents)) {
        const next = queue.shift()!;
        size += next.batch.events.length;
        group.push(next);
      }
      try {
        const results = await this.commit(
          workspaceId,
          group.map((g) => g.batch),
        );
        for (const [index, waiter] of group.entries()) waiter.resolve(results[index]!);
      } catch (error) {
        // A Postgres that is down or out of time fails every request alike: retrying one by one would
        // only hold them longer.
        if (group.length === 1 || isDatabaseUnavailable(error)) {
          for (const waiter of group) waiter.reject(error);
        } else {
          await this.commitOneByOne(workspaceId, group);
        }
      } finally {
        this.waiting.set(workspaceId, (this.waiting.get(workspaceId) ?? 0) - size);
      }
    }
    this.queues.delete(workspaceId);
    this.waiting.delete(workspaceId);
  }

  /** One group: on the head this appender left, in one round trip, or else under the lock (see appendOnGuess). */
  private async commit(workspaceId: string, batches: readonly PreparedBatch[]): Promise<AppendResult[]> {
    const guess = this.heads.get(workspaceId);
    // Forgotten until this commit is known to have worked: a failure leaves the head unknown.
    this.heads.delete(workspaceId);
    const done =
      (guess && (await appendOnGuess(this.db, workspaceId, batches, guess))) ??
      (await this.db.transaction((tx) => appendEventGroups(tx, workspaceId, batches)));
    this.heads.set(workspaceId, done.head);
    return done.results;
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
  batch: PreparedBatch;
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
