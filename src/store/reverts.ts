/** Revert bookkeeping: claim an event for reverting at most once at a time, and record how it ended. */
import { and, eq, sql } from 'drizzle-orm';
import type { DbOrTx } from './db.ts';
import { type RevertRow, reverts } from './schema/index.ts';
import { storableText } from './storable.ts';

/** A claim carries the moment it was taken: finishing checks it, so a claim taken over cannot be finished twice. */
export type RevertClaim = { claimed: true; startedAt: Date } | { claimed: false; existing: RevertRow };

/**
 * How long a claim may stay in progress before it counts as abandoned (its process died between the claim and the
 * outcome). A revert waits out at most three of Segment's rate-limit windows of up to a minute, plus its requests'
 * timeouts, so a live one is done well within this; a click after it takes the claim over instead of being told
 * "in progress" for ever.
 */
export const ABANDONED_CLAIM_MS = 10 * 60_000;

/**
 * Claims the event for this click; another click finds the row in progress or done. A failed one may be retried,
 * and so may one left in progress for longer than ABANDONED_CLAIM_MS. `takeOver` names an in-progress claim (by its
 * start) whose holder is known to have died, to be taken over: a Revert all resuming after its worker was killed.
 */
export async function claimRevert(
  db: DbOrTx,
  key: { workspaceId: string; eventId: string },
  requestedBy: string,
  options: { takeOver?: Date } = {},
): Promise<RevertClaim> {
  // Set here, in milliseconds, so that the value read back is exactly the one stored (Postgres keeps microseconds).
  const startedAt = new Date();
  const takeOver = options.takeOver
    ? sql` or (${reverts.status} = 'in_progress'
              and ${reverts.startedAt} = ${options.takeOver.toISOString()}::timestamptz)`
    : sql``;
  const abandonedBefore = new Date(startedAt.getTime() - ABANDONED_CLAIM_MS).toISOString();
  const abandoned = sql` or (${reverts.status} = 'in_progress' and ${reverts.startedAt} < ${abandonedBefore}::timestamptz)`;
  const inserted = await db
    .insert(reverts)
    .values({ ...key, status: 'in_progress', requestedBy, startedAt })
    .onConflictDoUpdate({
      target: [reverts.workspaceId, reverts.eventId],
      set: { status: 'in_progress', requestedBy, reason: null, startedAt, finishedAt: null },
      setWhere: sql`${reverts.status} = 'failed'${takeOver}${abandoned}`,
    })
    .returning({ eventId: reverts.eventId });
  if (inserted.length > 0) return { claimed: true, startedAt };
  const [existing] = await db
    .select()
    .from(reverts)
    .where(and(eq(reverts.workspaceId, key.workspaceId), eq(reverts.eventId, key.eventId)));
  return { claimed: false, existing: existing! };
}

/** Records how the claim taken at `startedAt` ended; false when it was taken over meanwhile (nothing recorded). */
export async function finishRevert(
  db: DbOrTx,
  key: { workspaceId: string; eventId: string },
  startedAt: Date,
  outcome: { status: 'done'; revertEventId: string } | { status: 'failed'; reason: string },
): Promise<boolean> {
  const finished = await db
    .update(reverts)
    .set({
      status: outcome.status,
      revertEventId: outcome.status === 'done' ? outcome.revertEventId : null,
      // Segment's messages quote what was sent, which may hold anything an event held.
      reason: outcome.status === 'failed' ? storableText(outcome.reason) : null,
      finishedAt: new Date(),
    })
    .where(
      and(
        eq(reverts.workspaceId, key.workspaceId),
        eq(reverts.eventId, key.eventId),
        eq(reverts.status, 'in_progress'),
        eq(reverts.startedAt, startedAt),
      ),
    )
    .returning({ eventId: reverts.eventId });
  return finished.length > 0;
}
