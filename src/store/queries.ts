/** Reading events back: filtered pages with a keyset cursor, and every match in batches for the CSV export. */
import { and, eq, gte, inArray, lt, or, sql, type SQL } from 'drizzle-orm';
import type postgres from 'postgres';
import type { ActorType, StoredEvent } from '../events.ts';
import type { DbOrTx } from './db.ts';
import { rowToEvent } from './rows.ts';
import { events } from './schema/index.ts';

export interface EventFilters {
  types?: readonly string[];
  category?: string;
  /** An actor id, or an email when it contains "@". */
  actor?: string;
  actorType?: ActorType;
  resourceType?: string;
  resourceId?: string;
  /** Inclusive lower bound on the event's timestamp. */
  since?: Date;
  /** Exclusive upper bound on the event's timestamp. */
  until?: Date;
}

/** Position after the last row of a page, in the page order (timestamp desc, seq desc). */
export interface Cursor {
  timestamp: string;
  seq: number;
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

export function encodeCursor(cursor: Cursor): string {
  return Buffer.from(JSON.stringify([cursor.timestamp, cursor.seq])).toString('base64url');
}

/** The only form encodeCursor writes (Date#toISOString of a stored timestamp, years 1970–9999). */
const CURSOR_TIME = /^(19[7-9]\d|[2-9]\d{3})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/**
 * The cursor, or undefined when the text is not one this service made. Its time must be exactly what
 * toISOString writes: JavaScript's Date accepts far more (2026-02-30, "Mon, 30 Feb 2026") than Postgres.
 */
export function decodeCursor(text: string): Cursor | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (!Array.isArray(value) || value.length !== 2) return undefined;
    const [timestamp, seq] = value as unknown[];
    if (typeof timestamp !== 'string' || !CURSOR_TIME.test(timestamp)) return undefined;
    const ms = Date.parse(timestamp);
    if (Number.isNaN(ms) || new Date(ms).toISOString() !== timestamp) return undefined;
    if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return undefined;
    return { timestamp, seq };
  } catch {
    return undefined;
  }
}

function whereClause(workspaceId: string, filters: EventFilters, cursor?: Cursor): SQL | undefined {
  const { types, category, actor, actorType, resourceType, resourceId, since, until } = filters;
  return and(
    eq(events.workspaceId, workspaceId),
    types?.length ? (types.length === 1 ? eq(events.type, types[0]!) : inArray(events.type, [...types])) : undefined,
    category ? eq(events.category, category) : undefined,
    actor ? (actor.includes('@') ? or(eq(events.actorEmail, actor), eq(events.actorId, actor)) : eq(events.actorId, actor)) : undefined,
    actorType ? eq(events.actorType, actorType) : undefined,
    resourceType ? eq(events.resourceType, resourceType) : undefined,
    resourceId ? eq(events.resourceId, resourceId) : undefined,
    since ? gte(events.timestamp, since) : undefined,
    until ? lt(events.timestamp, until) : undefined,
    // A row comparison, so Postgres walks the (…, timestamp desc, seq desc) indexes from the cursor on.
    cursor ? sql`(${events.timestamp}, ${events.seq}) < (${cursor.timestamp}::timestamptz, ${cursor.seq}::bigint)` : undefined,
  );
}

// NULLS LAST matches the indexes, which drizzle-kit creates as DESC NULLS LAST.
const newestFirst = [sql`${events.timestamp} desc nulls last`, sql`${events.seq} desc nulls last`];

export async function listEvents(
  db: DbOrTx,
  workspaceId: string,
  filters: EventFilters,
  page: { limit?: number; cursor?: Cursor } = {},
): Promise<{ events: StoredEvent[]; nextCursor: string | null }> {
  const limit = Math.min(page.limit ?? DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE);
  const rows = await db
    .select()
    .from(events)
    .where(whereClause(workspaceId, filters, page.cursor))
    .orderBy(...newestFirst)
    .limit(limit + 1);
  const pageRows = rows.slice(0, limit);
  const last = pageRows.at(-1);
  const nextCursor =
    rows.length > limit && last ? encodeCursor({ timestamp: last.timestamp.toISOString(), seq: last.seq }) : null;
  return { events: pageRows.map(rowToEvent), nextCursor };
}

export async function getEvent(db: DbOrTx, workspaceId: string, id: string): Promise<StoredEvent | undefined> {
  const [row] = await db.select().from(events).where(and(eq(events.workspaceId, workspaceId), eq(events.id, id)));
  return row && rowToEvent(row);
}

/** Several events of a workspace by id, in no particular order; ids no longer stored are left out. */
export async function getEvents(db: DbOrTx, workspaceId: string, ids: readonly string[]): Promise<StoredEvent[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .select()
    .from(events)
    .where(and(eq(events.workspaceId, workspaceId), inArray(events.id, [...ids])));
  return rows.map(rowToEvent);
}

/**
 * What each row exportEventRows yields holds, in order, named as the CSV header (SPEC section 4) names them. The
 * select below must list its columns in this order.
 */
export const EXPORT_COLUMNS = [
  'id', 'timestamp', 'type', 'category', 'actor_type', 'actor_id', 'actor_name', 'actor_email',
  'resource_type', 'resource_id', 'resource_name', 'changes', 'context', 'metadata',
] as const;

/** One exported event: every cell as text (JSON for changes, context and metadata), in EXPORT_COLUMNS order. */
export type ExportRow = (string | null)[];

/** Rows fetched from the Postgres cursor per round trip. */
const EXPORT_BATCH_ROWS = 2000;

/**
 * Every matching event, newest first, read through a Postgres cursor in batches of EXPORT_BATCH_ROWS so memory
 * stays flat however many rows match. Rows come as text, ready for a CSV cell.
 */
export async function* exportEventRows(
  db: DbOrTx,
  sqlClient: postgres.Sql,
  workspaceId: string,
  filters: EventFilters,
): AsyncGenerator<ExportRow[]> {
  const query = db
    .select({
      id: events.id,
      // Formatted by Postgres so no Date objects are made and thrown away per row.
      timestamp: sql<string>`to_char(${events.timestamp} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
      type: events.type,
      category: events.category,
      actorType: events.actorType,
      actorId: events.actorId,
      actorName: events.actorName,
      actorEmail: events.actorEmail,
      resourceType: events.resourceType,
      resourceId: events.resourceId,
      resourceName: events.resourceName,
      // jsonb as text: the JSON the cell needs, without a parse and re-stringify in Node.
      changes: sql<string | null>`${events.changes}::text`,
      context: sql<string | null>`${events.context}::text`,
      metadata: sql<string | null>`${events.metadata}::text`,
    })
    .from(events)
    .where(whereClause(workspaceId, filters))
    .orderBy(...newestFirst)
    .toSQL();

  // Arrays, not objects: no keys made per row, and the order the CSV writes them in.
  const rows = sqlClient.unsafe(query.sql, query.params as postgres.ParameterOrJSON<never>[]).values();
  for await (const batch of rows.cursor(EXPORT_BATCH_ROWS)) yield batch as unknown as ExportRow[];
}
