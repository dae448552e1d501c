/** Revert bookkeeping: claim an event for reverting at most once at a time, and record how it ended. */
import { and, eq, sql } from 'drizzle-orm';
import type { DbOrTx } from './db.ts';
import { reverts, type RevertRow } from './schema/index.ts';
import { storableText } from './storable.ts';

export type RevertClaim = { claimed: true } | { claimed: false; existing: RevertRow };

/** Claims the event for this click; another click finds the row in progress or done. A failed one may be retried. */
export async function claimRevert(db: DbOrTx, key: { workspaceId: string; eventId: string }, requestedBy: string): Promise<RevertClaim> {
  const inserted = await db
    .insert(reverts)
    .values({ ...key, status: 'in_progress', requestedBy })
    .onConflictDoUpdate({
      target: [reverts.workspaceId, reverts.eventId],
      set: { status: 'in_progress', requestedBy, reason: null, startedAt: sql`now()`, finishedAt: null },
      setWhere: eq(reverts.status, 'failed'),
    })
    .returning({ eventId: reverts.eventId });
  if (inserted.length > 0) return { claimed: true };
  const [existing] = await db
    .select()
    .from(reverts)
    .where(and(eq(reverts.workspaceId, key.workspaceId), eq(reverts.eventId, key.eventId)));
  return { claimed: false, existing: existing! };
}

export async function finishRevert(
  db: DbOrTx,
  key: { workspaceId: string; eventId: string },
  outcome: { status: 'done'; revertEventId: string } | { status: 'failed'; reason: string },
): Promise<void> {
  await db
    .update(reverts)
    .set({
      status: outcome.status,
      revertEventId: outcome.status === 'done' ? outcome.revertEventId : null,
      // Segment's messages quote what was sent, which may hold anything an event held.
      reason: outcome.status === 'failed' ? storableText(outcome.reason) : null,
      finishedAt: new Date(),
    })
    .where(and(eq(reverts.workspaceId, key.workspaceId), eq(reverts.eventId, key.eventId)));
}
