/**
 * The alert's Revert button, for owners: runs the revert workflow (revert/workflow.ts) and shows how it ended,
 * on the alert itself (updated in place with who reverted it, or why not) or, failing that, to the clicker.
 */
import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import type { types } from '@slack/bolt';
import { revertEvent, type RevertResult } from '../../../revert/workflow.ts';
import { parseAlertButtonValue } from '../../blocks/alert.ts';
import { workspaceForTeam, type SlackDeps } from '../../context.ts';
import { escapeMrkdwn, slackDate, truncate } from '../../mrkdwn.ts';

/** The context block this listener adds to an alert; replaced, never stacked, on later clicks. */
const STATUS_BLOCK_ID = 'audit_outcome';

type Block = types.KnownBlock | types.Block;

function statusBlock(text: string): types.ContextBlock {
  return { type: 'context', block_id: STATUS_BLOCK_ID, elements: [{ type: 'mrkdwn', text: truncate(text, 1900) }] };
}

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs;

export function revertAction(deps: SlackDeps) {
  return async ({ body, action, client, respond }: ButtonArgs): Promise<void> => {
    const workspaceId = workspaceForTeam(deps.config, body.team?.id);
    const userId = body.user.id;
    const log = deps.logger.child({ action: 'revert', user: userId, workspaceId, value: action.value });
    const tell = (text: string) => respond({ response_type: 'ephemeral', replace_original: false, text });

    const value = parseAlertButtonValue(action.value);
    const result: RevertResult =
      value && value.w === workspaceId
        ? await revertEvent(
            { db: deps.database.db, target: deps.revertTarget, logger: deps.logger.child({ action: 'revert' }) },
            {
              workspaceId,
              eventId: value.e,
              user: { id: userId, name: body.user.name },
              context: { via: 'slack', slackTeamId: body.team?.id ?? null, slackChannelId: body.channel?.id ?? null },
            },
          )
        : { status: 'not_found' };

    const channel = body.channel?.id;
    const ts = body.message?.ts;
    const original = ((body.message?.blocks ?? []) as Block[]).filter((block) => block.block_id !== STATUS_BLOCK_ID);
    switch (result.status) {
      case 'not_found':
        await tell('That event is not in this workspace’s audit trail any more, so it cannot be reverted from here.');
        return;
      case 'not_revertible':
        await tell(`A ${escapeMrkdwn(result.eventType)} event cannot be reverted automatically.`);
        return;
      case 'already_reverted':
        await tell(`This change was already reverted by <@${result.by}>.`);
        return;
      case 'in_progress':
        await tell(`<@${result.by}> is reverting this change right now.`);
        return;
      case 'reverted': {
        if (!channel || !ts) {
          await tell(`Reverted: ${escapeMrkdwn(result.summary)}`);
          return;
        }
        const summary = escapeMrkdwn(result.summary);
        const status = `:leftwards_arrow_with_hook: Reverted by <@${userId}> at ${slackDate(new Date())}: ${summary}`;
        const blocks = [...original.filter((block) => block.type !== 'actions'), statusBlock(status)];
        await client.chat
          .update({ channel, ts, blocks, text: `Reverted by <@${userId}>: ${summary}` })
          .catch((error: unknown) => log.warn({ err: error }, 'reverted, but could not update the alert message'));
        return;
      }
      case 'failed': {
        if (!channel || !ts) {
          await tell(`Revert failed: ${escapeMrkdwn(result.reason)}`);
          return;
        }
        const reason = escapeMrkdwn(result.reason);
        const status = `:x: Revert by <@${userId}> failed at ${slackDate(new Date())}: ${reason}`;
        await client.chat
          .update({ channel, ts, blocks: [...original, statusBlock(status)], text: `Revert failed: ${reason}` })
          .catch((error: unknown) => log.warn({ err: error }, 'could not show the revert failure on the alert'));
        return;
      }
    }
  };
}
