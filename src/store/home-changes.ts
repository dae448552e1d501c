/**
 * "A workspace's alerts or silences changed": a Postgres NOTIFY the slack role LISTENs for, so the App Homes its
 * users opened recently are republished whichever process made the change (delivered at commit, like the outbox's).
 */
import { sql } from 'drizzle-orm';
import type { DbOrTx } from './db.ts';

export const HOME_CHANGES_CHANNEL = 'audit_home';

export async function notifyHomeChanged(db: DbOrTx, workspaceId: string): Promise<void> {
  await db.execute(sql`select pg_notify(${HOME_CHANGES_CHANNEL}, ${workspaceId})`);
}
