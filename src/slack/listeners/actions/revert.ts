/**
 * The alert's Revert button, for owners: runs the revert workflow (revert/workflow.ts) and shows how it ended,
 * on the alert itself (updated in place with who reverted it, or why not) or, failing that, to the clicker. The
 * update keeps the alert's other status lines (Acknowledged, Silenced) and its other buttons.
 */
import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { type RevertResult, revertEvent } from '../../../revert/workflow.ts';
import { notifyHomeChanged } from '../../../store/home-changes.ts';
import { parseAlertButtonValue, withAlertStatus, withoutAlertControl } from '../../blocks/alert.ts';
import { type SlackDeps, workspaceForTeam } from '../../context.ts';
import { REVERT_ACTION } from '../../ids.ts';
import { escapeMrkdwn, slackDate } from '../../mrkdwn.ts';
import { updateAlertMessage } from './alert-message.ts';

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

    const click = { body, client, log };
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
        // Counted for the rule whose alert was clicked, when it is one of the rules in force (the value is ours,
        // but a metric label must never come from an unchecked string).
        const ruleId = value?.r;
        if (ruleId && deps.rules.current().some((rule) => rule.id === ruleId)) {
          deps.metrics.alerts.inc({ rule: ruleId, outcome: 'reverted' });
        }
        await notifyHomeChanged(deps.database.db, workspaceId).catch((error: unknown) =>
          log.warn({ err: error }, 'could not refresh the App Home'),
        );
        const summary = escapeMrkdwn(result.summary);
        const status = `:leftwards_arrow_with_hook: Reverted by <@${userId}> at ${slackDate(new Date())}: ${summary}`;
        const updated = await updateAlertMessage(
          click,
          (blocks) => withAlertStatus(withoutAlertControl(blocks, REVERT_ACTION), 'reverted', status),
          `Reverted by <@${userId}>: ${summary}`,
        );
        if (!updated) await tell(`Reverted: ${summary}`);
        return;
      }
      case 'failed': {
        const reason = escapeMrkdwn(result.reason);
        const status = `:x: Revert by <@${userId}> failed at ${slackDate(new Date())}: ${reason}`;
        const updated = await updateAlertMessage(
          click,
          (blocks) => withAlertStatus(blocks, 'reverted', status),
          `Revert failed: ${reason}`,
        );
        if (!updated) await tell(`Revert failed: ${reason}`);
        return;
      }
    }
  };
}
