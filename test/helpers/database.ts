/** A database of its own for each test file, created and migrated on the shared server, dropped after. */
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { inject } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { migrateDatabase } from '../../src/store/db.ts';
import { deleteKeysUnder } from './redis-keys.ts';

export function serverUrl(): string {
  return inject('databaseUrl');
}

export function redisUrl(): string {
  return inject('redisUrl');
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

function withDatabaseName(url: string, name: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
}

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(options: { migrate?: boolean } = {}): Promise<TestDatabase> {
  const name = uniqueName('audit_test');
  const admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}"`);
  await admin.end();
  const url = withDatabaseName(serverUrl(), name);
  if (options.migrate !== false) await migrateDatabase(url, createLogger('silent'));
  return {
    url,
    name,
    async drop() {
      const cleanup = postgres(serverUrl(), { max: 1, onnotice: () => {} });
      await cleanup.unsafe(`drop database if exists "${name}" with (force)`);
      await cleanup.end();
    },
  };
}

/** A URL for a database that does not exist yet (start-up must create it). */
export function missingDatabaseUrl(): { url: string; name: string; drop(): Promise<void> } {
  const name = uniqueName('audit_fresh');
  return {
    url: withDatabaseName(serverUrl(), name),
    name,
    async drop() {
      const cleanup = postgres(serverUrl(), { max: 1, onnotice: () => {} });
      await cleanup.unsafe(`drop database if exists "${name}" with (force)`);
      await cleanup.end();
    },
  };
}

/** Deletes every key under a test's own queue prefix from the shared Redis (never anything else). */
export async function deleteRedisPrefix(prefix: string): Promise<void> {
  if (!/^[a-z0-9]+_[0-9a-f]{10}$/.test(prefix))
    throw new Error(`refusing to delete keys of a prefix no test made: ${prefix}`);
  await deleteKeysUnder(redisUrl(), prefix);
}
