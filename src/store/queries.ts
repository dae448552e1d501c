/** Reading events back: filtered pages with a keyset cursor, and every match in batches for the CSV export. */
import { randomBytes } from 'node:crypto';
import { type AnyColumn, and, asc, between, eq, gte, inArray, lt, or, type SQL, sql } from 'drizzle-orm';
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
    actor
      ? actor.includes('@')
        ? or(eq(events.actorEmail, actor), eq(events.actorId, actor))
        : eq(events.actorId, actor)
      : undefined,
    actorType ? eq(events.actorType, actorType) : undefined,
    resourceType ? eq(events.resourceType, resourceType) : undefined,
    resourceId ? eq(events.resourceId, resourceId) : undefined,
    since ? gte(events.timestamp, since) : undefined,
    until ? lt(events.timestamp, until) : undefined,
    // A row comparison, so Postgres walks the (…, timestamp desc, seq desc) indexes from the cursor on.
    cursor
      ? sql`(${events.timestamp}, ${events.seq}) < (${cursor.timestamp}::timestamptz, ${cursor.seq}::bigint)`
      : undefined,
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

/** Which of these ids the workspace already holds (one indexed lookup), so a re-read can skip them before appending. */
export async function storedEventIds(db: DbOrTx, workspaceId: string, ids: readonly string[]): Promise<Set<string>> {
  if (ids.length === 0) return new Set();
  const rows = await db
    .select({ id: events.id })
    .from(events)
    .where(and(eq(events.workspaceId, workspaceId), inArray(events.id, [...ids])));
  return new Set(rows.map((row) => row.id));
}

export async function getEvent(db: DbOrTx, workspaceId: string, id: string): Promise<StoredEvent | undefined> {
  const [row] = await db
    .select()
    .from(events)
    .where(and(eq(events.workspaceId, workspaceId), eq(events.id, id)));
  return row && rowToEvent(row);
}

/** The workspace's events with fromSeq <= seq <= toSeq, in seq order; purged ones are simply absent. */
export async function eventsInRange(
  db: DbOrTx,
  range: { workspaceId: string; fromSeq: number; toSeq: number },
): Promise<StoredEvent[]> {
  const rows = await db
    .select()
    .from(events)
    .where(and(eq(events.workspaceId, range.workspaceId), between(events.seq, range.fromSeq, range.toSeq)))
    .orderBy(asc(events.seq));
  return rows.map(rowToEvent);
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

/** The CSV columns (SPEC section 4), in order: exportCopyStatement names its cells so, and COPY's header says them. */
export const EXPORT_COLUMNS = [
  'id',
  'timestamp',
  'type',
  'category',
  'actor_type',
  'actor_id',
  'actor_name',
  'actor_email',
  'resource_type',
  'resource_id',
  'resource_name',
  'changes',
  'context',
  'metadata',
] as const;

/**
 * A text cell as the CSV needs it: a leading = + - @ tab or carriage return (or a full-width = + - @, which some
 * spreadsheets also run) gets an apostrophe in front so that no spreadsheet runs it as a formula (OWASP's advice), and
 * an empty text becomes no value, written as an empty cell rather than "".
 */
function csvText(column: SQL | AnyColumn): SQL {
  return sql`nullif(case when left(${column}, 1) in ('=', '+', '-', '@', chr(9), chr(13), '＝', '＋', '－', '＠')
    then '''' || ${column} else ${column} end, '')`;
}

/**
 * The statement that writes every matching event as CSV, newest first, header included: Postgres quotes the cells as
 * it writes them, so the service only passes bytes on (see export/csv.ts for what that bought). COPY takes no
 * parameters, so the filter values are written into the statement as dollar-quoted literals (see inlineParameters).
 */
export function exportCopyStatement(db: DbOrTx, workspaceId: string, filters: EventFilters): string {
  const cell = (expression: SQL, name: (typeof EXPORT_COLUMNS)[number]) => expression.as(name);
  const utc = sql`to_char(${events.timestamp} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
  const query = db
    .select({
      id: cell(csvText(events.id), 'id'),
      timestamp: cell(utc, 'timestamp'),
      type: cell(csvText(events.type), 'type'),
      category: cell(csvText(events.category), 'category'),
      actorType: cell(csvText(events.actorType), 'actor_type'),
      actorId: cell(csvText(events.actorId), 'actor_id'),
      actorName: cell(csvText(events.actorName), 'actor_name'),
      actorEmail: cell(csvText(events.actorEmail), 'actor_email'),
      resourceType: cell(csvText(events.resourceType), 'resource_type'),
      resourceId: cell(csvText(events.resourceId), 'resource_id'),
      resourceName: cell(csvText(events.resourceName), 'resource_name'),
      // jsonb's own text: the JSON the cell needs, without a parse and re-stringify in Node.
      changes: cell(csvText(sql`${events.changes}::text`), 'changes'),
      context: cell(csvText(sql`${events.context}::text`), 'context'),
      metadata: cell(csvText(sql`${events.metadata}::text`), 'metadata'),
    })
    .from(events)
    .where(whereClause(workspaceId, filters))
    .orderBy(...newestFirst)
    .toSQL();
  return `copy (${inlineParameters(query)}) to stdout with (format csv, header)`;
}

/**
 * A query's text with each $n replaced by its parameter as a dollar-quoted literal. Such a literal has no escapes: it
 * ends only at its closing tag, which is random and checked to be absent from the value, so no quote or backslash in a
 * value can end it early; and like a parameter, it is untyped until its context gives it a type.
 */
export function inlineParameters(query: { sql: string; params: unknown[] }): string {
  return query.sql.replace(/\$(\d+)/g, (_, n: string) => {
    const value = query.params[Number(n) - 1];
    if (typeof value !== 'string' && typeof value !== 'number') throw new TypeError(`cannot inline parameter $${n}`);
    return dollarQuoted(String(value));
  });
}

function dollarQuoted(value: string): string {
  let tag: string;
  do tag = `$v${randomBytes(6).toString('hex')}$`;
  while (value.includes(tag));
  return `${tag}${value}${tag}`;
}
