/**
 * The revert workflow behind the alert's Revert button: claim the event (so it is undone at most once, however many
 * clicks), undo it at the target, and record how it ended; a success is an audit event committed with its claim.
 */
import type { StoredEvent } from '../events.ts';
import type { Logger } from '../logger.ts';
import { touchGroupsOf } from '../store/alert-groups.ts';
import { appendEvents } from '../store/append.ts';
import type { Db } from '../store/db.ts';
import { getEvent } from '../store/queries.ts';
import { claimRevert, finishRevert } from '../store/reverts.ts';
import { storableJson } from '../store/storable.ts';
import type { RevertOutcome, RevertSuccess, RevertTarget } from './types.ts';

export interface RevertDeps {
  db: Db;
  /** Undefined when no target is configured (no SEGMENT_API_TOKEN): nothing can be reverted. */
  target: RevertTarget | undefined;
  logger: Logger;
}

export interface RevertRequest {
  workspaceId: string;
  eventId: string;
  /** Who asked: the actor of the recorded revert. */
  user: { id: string; name?: string | undefined };
  /** Where the request came from, kept as the recorded revert's context (e.g. `{ via: 'slack', … }`). */
  context: Record<string, unknown>;
  /**
   * A Revert all resuming after its worker died: this event was started by the dead attempt, so a claim still in
   * progress is that attempt's and is taken over rather than reported as someone else's revert in progress.
   */
  resume?: boolean;
}

/** How a request ended. Every expected refusal and failure is a value, for the caller to show as it sees fit. */
export type RevertResult =
  | { status: 'not_found' }
  | { status: 'not_revertible'; eventType: string }
  | { status: 'already_reverted'; by: string }
  | { status: 'in_progress'; by: string }
  | { status: 'reverted'; summary: string; revertEventId: string }
  | { status: 'failed'; reason: string };

export async function revertEvent(deps: RevertDeps, asked: RevertRequest): Promise<RevertResult> {
  // Who asked and from where came from Slack: escaped so that, once Segment has changed, the record cannot fail on it.
  const request: RevertRequest = { ...asked, user: storableJson(asked.user), context: storableJson(asked.context) };
  const { workspaceId } = request;
  const log = deps.logger.child({ workspaceId, eventId: request.eventId, user: request.user.id });
  const event = await getEvent(deps.db, workspaceId, request.eventId);
  if (!event) return { status: 'not_found' };
  const { target } = deps;
  if (!target?.canRevert(event)) return { status: 'not_revertible', eventType: event.type };

  const key = { workspaceId, eventId: event.id };
  let claim = await claimRevert(deps.db, key, request.user.id);
  if (!claim.claimed && request.resume && claim.existing.status === 'in_progress') {
    // The target may or may not have been called by the dead attempt; every revert call sets state (enabled, the
    // before values), so calling it again changes nothing more, and the claim below still records the revert once.
    claim = await claimRevert(deps.db, key, request.user.id, { takeOver: claim.existing.startedAt });
  }
  if (!claim.claimed) {
    const by = claim.existing.requestedBy;
    return claim.existing.status === 'done' ? { status: 'already_reverted', by } : { status: 'in_progress', by };
  }

  const outcome: RevertOutcome = await target.revert(event).catch((error: unknown) => {
    log.error({ err: error }, 'revert failed unexpectedly');
    return { ok: false, reason: 'an unexpected error; see the service log', retryable: true } as const;
  });

  const { startedAt } = claim;
  if (outcome.ok) {
    const revertEventId = await deps.db
      .transaction(async (tx) => {
        const { stored } = await appendEvents(tx, workspaceId, [revertEventFor(event, outcome, request)]);
        const recorded = stored[0]!.id;
        const finished = await finishRevert(tx, key, startedAt, { status: 'done', revertEventId: recorded });
        if (!finished) throw new ClaimLost();
        // A grouped message counting this event's group's reverts is now behind.
        await touchGroupsOf(tx, key);
        return recorded;
      })
      .catch((error: unknown) => {
        if (error instanceof ClaimLost) return undefined;
        throw error;
      });
    if (revertEventId === undefined) {
      log.warn('revert done, but its claim was taken over meanwhile; the one that took it over records it');
      return { status: 'in_progress', by: request.user.id };
    }
    log.info({ revertEventId }, outcome.summary);
    return { status: 'reverted', summary: outcome.summary, revertEventId };
  }

  if (!(await finishRevert(deps.db, key, startedAt, { status: 'failed', reason: outcome.reason }))) {
    return { status: 'in_progress', by: request.user.id };
  }
  log.warn({ reason: outcome.reason }, 'revert failed');
  return { status: 'failed', reason: outcome.reason };
}

/** The claim was taken over while this revert ran: its transaction rolls back, so the revert is recorded once. */
class ClaimLost extends Error {}

/** The audit event of a revert: the inverse type, the requester as actor, and a link to the original. */
function revertEventFor(event: StoredEvent, outcome: RevertSuccess, request: RevertRequest) {
  const { user } = request;
  return {
    type: outcome.inverseType,
    actor: { type: 'user' as const, id: user.id, ...(user.name && { name: user.name }) },
    resource: event.resource,
    changes: outcome.changes,
    context: request.context,
    metadata: {
      revertOf: event.id,
      revertedType: event.type,
      ...(event.metadata?.destinationId !== undefined && { destinationId: event.metadata.destinationId }),
    },
  };
}
