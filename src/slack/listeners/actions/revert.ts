/**
 * The alert's Revert button, for owners: one Segment API call per event however many clicks, the revert recorded
 * as an audit event, and the alert updated in place with who reverted it (or why not).
 */
import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import type { types } from '@slack/bolt';
import type { StoredEvent } from '../../../events.ts';
import type { RevertOutcome } from '../../../revert/types.ts';
import { appendEvents } from '../../../store/append.ts';
import { getEvent } from '../../../store/queries.ts';
import { claimRevert, finishRevert } from '../../../store/reverts.ts';
import { parseAlertButtonValue } from '../../blocks/alert.ts';
import { workspaceForTeam, type SlackDeps } from '../../context.ts';
import { escapeMrkdwn, slackDate, truncate } from '../../mrkdwn.ts';

/** The context block this listener adds to an alert; replaced, never stacked, on later clicks. */
const STATUS_BLOCK_ID = 'audit_outcome';

type Block = types.KnownBlock | types.Block;

function statusBlock(text: string): types.ContextBlock {
  return { type: 'context', block_id: STATUS_BLOCK_ID, elements: [{ type: 'mrkdwn', text: truncate(text, 1900) }] };
}

export function revertAction(deps: SlackDeps) {
  return async ({ body, action, client, respond }: SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs): Promise<void> => {
    const workspaceId = workspaceForTeam(deps.config, body.team?.id);
    const userId = body.user.id;
    const log = deps.logger.child({ action: 'revert', user: userId, workspaceId, value: action.value });
    const tell = (text: string) => respond({ response_type: 'ephemeral', replace_original: false, text });

    const value = parseAlertButtonValue(action.value);
    const event = value && value.w === workspaceId ? await getEvent(deps.database.db, workspaceId, value.e) : undefined;
    if (!event) {
      await tell('That event is not in this workspace’s audit trail any more, so it cannot be reverted from here.');
      return;
    }
    if (!deps.revertTarget || !deps.revertTarget.canRevert(event)) {
      await tell(`A ${escapeMrkdwn(event.type)} event cannot be reverted automatically.`);
      return;
    }

    const key = { workspaceId, eventId: event.id };
    const claim = await claimRevert(deps.database.db, key, userId);
    if (!claim.claimed) {
      const by = `<@${claim.existing.requestedBy}>`;
      await tell(claim.existing.status === 'done' ? `This change was already reverted by ${by}.` : `${by} is reverting this change right now.`);
      return;
    }

    const outcome: RevertOutcome = await deps.revertTarget.revert(event).catch((error: unknown) => {
      log.error({ err: error }, 'revert failed unexpectedly');
      return { ok: false, reason: 'an unexpected error; see the service log', retryable: true } as const;
    });
    const channel = body.channel?.id;
    const ts = body.message?.ts;
    const original = ((body.message?.blocks ?? []) as Block[]).filter((block) => block.block_id !== STATUS_BLOCK_ID);

    if (outcome.ok) {
      const revertEventId = await deps.database.db.transaction(async (tx) => {
        const { stored } = await appendEvents(tx, workspaceId, [revertEventFor(event, outcome, body)]);
        const recorded = stored[0]!.id;
        await finishRevert(tx, key, { status: 'done', revertEventId: recorded });
        return recorded;
      });
      log.info({ eventId: event.id, revertEventId }, outcome.summary);
      if (channel && ts) {
        const blocks = [...original.filter((block) => block.type !== 'actions'), statusBlock(`:leftwards_arrow_with_hook: Reverted by <@${userId}> at ${slackDate(new Date())}: ${escapeMrkdwn(outcome.summary)}`)];
        await client.chat
          .update({ channel, ts, blocks, text: `Reverted by <@${userId}>: ${escapeMrkdwn(outcome.summary)}` })
          .catch((error: unknown) => log.warn({ err: error }, 'reverted, but could not update the alert message'));
      } else {
        await tell(`Reverted: ${escapeMrkdwn(outcome.summary)}`);
      }
      return;
    }

    await finishRevert(deps.database.db, key, { status: 'failed', reason: outcome.reason });
    log.warn({ eventId: event.id, reason: outcome.reason }, 'revert failed');
    if (channel && ts) {
      const blocks = [...original, statusBlock(`:x: Revert by <@${userId}> failed at ${slackDate(new Date())}: ${escapeMrkdwn(outcome.reason)}`)];
      await client.chat
        .update({ channel, ts, blocks, text: `Revert failed: ${escapeMrkdwn(outcome.reason)}` })
        .catch((error: unknown) => log.warn({ err: error }, 'could not show the revert failure on the alert'));
    } else {
      await tell(`Revert failed: ${escapeMrkdwn(outcome.reason)}`);
    }
  };
}

/** The audit event of a revert: the inverse type, the clicker as actor, and a link to the original. */
function revertEventFor(event: StoredEvent, outcome: Extract<RevertOutcome, { ok: true }>, body: BlockAction) {
  return {
    type: outcome.inverseType,
    actor: { type: 'user' as const, id: body.user.id, ...(body.user.name && { name: body.user.name }) },
    resource: event.resource,
    changes: outcome.changes,
    context: { via: 'slack', slackTeamId: body.team?.id ?? null, slackChannelId: body.channel?.id ?? null },
    metadata: { revertOf: event.id, revertedType: event.type, ...(event.metadata?.destinationId !== undefined && { destinationId: event.metadata.destinationId }) },
  };
}
