/** Postgres access: the connection pool, database creation and migrations under an advisory lock. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import type { Logger } from '../logger.ts';
import * as schema from './schema/index.ts';

export type Db = PostgresJsDatabase<typeof schema>;
/** A store function's first argument: the pool or an open transaction, so audit rows commit with what they record. */
export type DbOrTx = Db | Parameters<Parameters<Db['transaction']>[0]>[0];

export interface Database {
  db: Db;
  sql: postgres.Sql;
  /**
   * A connection of its own outside the pool, for one long statement (a CSV export's COPY): no statement timeout, a
   * lock wait bounded like any statement, read only. The caller ends it (`end({ timeout: 0 })` drops it at once).
   */
  dedicatedReader(): postgres.Sql;
  close(): Promise<void>;
}

/**
 * The drizzle/ folder of this checkout or image: the nearest one above this module, which is src/store/ under tsx,
 * dist/store/ for the CLI and dist/ itself in the service's bundle (see bundle.mjs).
 */
export const MIGRATIONS_FOLDER = findUp('drizzle', fileURLToPath(new URL('.', import.meta.url)));

function findUp(name: string, from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, name, 'meta', '_journal.json'))) return join(dir, name);
    if (dirname(dir) === dir) throw new Error(`no ${name}/ folder with migrations above ${from}`);
  }
}

/** Any constant will do; it only has to differ from other advisory locks taken in this database. */
export const MIGRATION_LOCK_KEY = 0x61756474; // "audt"

/**
 * SPEC section 4: with Postgres unreachable a request gets 503 within 5 seconds, so a connection attempt
 * and a statement (a lock wait included) each give up before that. Measured on 1M events of one
 * workspace, the slowest statements (the retention boundary, a scan by received_at) take under 1 s.
 */
export const CONNECT_TIMEOUT_SECONDS = 3;
export const STATEMENT_TIMEOUT_MS = 4_000;

export function createDb(databaseUrl: string, options: { max?: number; statementTimeoutMs?: number } = {}): Database {
  const connection = {
    application_name: 'audit-trail',
    // UTC sessions: timestamps come back as "…+00" whatever the server's TimeZone, never an offset with
    // seconds (Africa/Monrovia in 1970) that JavaScript's Date cannot parse.
    TimeZone: 'UTC',
  };
  const sql = postgres(databaseUrl, {
    max: options.max ?? 10,
    onnotice: () => {},
    connect_timeout: CONNECT_TIMEOUT_SECONDS,
    connection: { ...connection, statement_timeout: options.statementTimeoutMs ?? STATEMENT_TIMEOUT_MS },
  });
  return {
    db: drizzle(sql, { schema }),
    sql,
    dedicatedReader: () =>
      postgres(databaseUrl, {
        max: 1,
        onnotice: () => {},
        connect_timeout: CONNECT_TIMEOUT_SECONDS,
        connection: {
          ...connection,
          statement_timeout: 0,
          lock_timeout: STATEMENT_TIMEOUT_MS,
          default_transaction_read_only: true,
        },
      }),
    close: () => sql.end({ timeout: 5 }),
  };
}

/** Postgres did not answer in time: answered like a refused connection, with 503 and Retry-After. */
export class DatabaseUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatabaseUnavailable';
  }
}

/**
 * `work`, or DatabaseUnavailable once `ms` pass. Only for work that is harmless to abandon (a read): the
 * query still runs to its end on its connection, which a hung server holds until it answers or dies.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DatabaseUnavailable(`${what}: Postgres did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

/**
 * Failures that say nothing about the request and everything about Postgres: no connection (refused,
 * reset, timed out, closed), a server shutting down or out of connections, or a statement that ran out of
 * time (statement_timeout, lock_timeout). Drizzle wraps the driver's error as `cause`.
 */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  '57P01',
  '57P02',
  '57P03',
  '53300',
  '57014',
  '55P03',
]);

export function isDatabaseUnavailable(error: unknown): boolean {
  for (let at = error, depth = 0; at !== null && typeof at === 'object' && depth < 5; depth++) {
    if (at instanceof DatabaseUnavailable) return true;
    const code = (at as { code?: unknown }).code;
    // SQLSTATE class 08: connection exception.
    if (typeof code === 'string' && (UNAVAILABLE_CODES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
    at = (at as { cause?: unknown }).cause;
  }
  return false;
}

/** Creates the database named in the URL when it does not exist yet (connecting to `postgres` to do so). */
export async function ensureDatabase(databaseUrl: string, logger: Logger): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, '')) || 'postgres';
  const probe = postgres(databaseUrl, { max: 1, onnotice: () => {}, connect_timeout: 10 });
  try {
    await probe`select 1`;
    return;
  } catch (error) {
    if ((error as { code?: string }).code !== '3D000') throw error; // 3D000: invalid_catalog_name
  } finally {
    await probe.end({ timeout: 5 });
  }
  url.pathname = '/postgres';
  const admin = postgres(url.toString(), { max: 1, onnotice: () => {} });
  try {
    await admin.unsafe(`create database ${quoteIdent(name)}`);
    logger.info({ database: name }, 'created database');
  } catch (error) {
    // 42P04: another replica created it between our probe and our create.
    if ((error as { code?: string }).code !== '42P04') throw error;
  } finally {
    await admin.end({ timeout: 5 });
  }
}

/** Applies pending migrations; replicas starting together wait on one advisory lock instead of racing. */
export async function migrateDatabase(databaseUrl: string, logger: Logger): Promise<void> {
  const sql = postgres(databaseUrl, { max: 1, onnotice: () => {} });
  try {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    try {
      await migrate(drizzle(sql), { migrationsFolder: MIGRATIONS_FOLDER });
    } finally {
      await sql`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
    }
    logger.debug('migrations applied');
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** `host:port` of a Postgres URL, for messages: never the user name or password. */
export function postgresAddress(databaseUrl: string): string {
  const parsed = new URL(databaseUrl);
  return `${parsed.hostname}:${parsed.port || '5432'}`;
}

/** Errors that mean "could not get a working connection", from the socket or from postgres.js. */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

/**
 * Why Postgres could not be used, in one line naming it and its address, when the error says it could not be
 * reached or refused the login (SQLSTATE class 28, or 57P03 while it starts up); undefined for anything else.
 */
export function postgresConnectionProblem(error: unknown, databaseUrl: string): string | undefined {
  const { code, message } = error as { code?: string; message?: string };
  const address = postgresAddress(databaseUrl);
  if (code && CONNECTION_ERROR_CODES.has(code)) return `Postgres at ${address} is unreachable (${message ?? code})`;
  if (code?.startsWith('28') || code === '57P03') {
    return `Postgres at ${address} refused the connection (${message ?? code})`;
  }
  return undefined;
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
