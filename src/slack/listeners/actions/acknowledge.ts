/**
 * The alert's Acknowledge button, for owners: marks the alert acknowledged (once, recorded as an `Alert Acknowledged`
 * audit event) and updates it in place with who and when, keeping every other status line and button.
 */
import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { acknowledgeAlert } from '../../../store/alerts.ts';
import { parseAlertButtonValue, withAlertStatus, withoutAlertControl } from '../../blocks/alert.ts';
import { type SlackDeps, workspaceForTeam } from '../../context.ts';
import { ACKNOWLEDGE_ACTION } from '../../ids.ts';
import { slackDate } from '../../mrkdwn.ts';
import { type MessageBlock, updateAlertMessage } from './alert-message.ts';

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs;

export function acknowledgeAction(deps: SlackDeps) {
  return async ({ body, action, client, respond }: ButtonArgs): Promise<void> => {
    const workspaceId = workspaceForTeam(deps.config, body.team?.id);
    const userId = body.user.id;
    const log = deps.logger.child({ action: 'acknowledge', user: userId, workspaceId, value: action.value });
    const tell = (text: string) => respond({ response_type: 'ephemeral', replace_original: false, text });
    const value = parseAlertButtonValue(action.value);
    if (!value?.r || value.w !== workspaceId) {
      await tell('That alert is not in this workspace’s audit trail, so it cannot be acknowledged from here.');
      return;
    }
    const key = { workspaceId, eventId: value.e, ruleId: value.r };
    const result = await acknowledgeAlert(deps.database.db, key, {
      actor: { type: 'user', id: userId, ...(body.user.name && { name: body.user.name }) },
      context: { via: 'slack', slackTeamId: body.team?.id ?? null, slackChannelId: body.channel?.id ?? null },
    });
    switch (result.status) {
      case 'not_found':
        await tell('That alert is no longer recorded (it may have passed the retention period).');
        return;
      case 'already_acknowledged':
        await tell(`<@${result.by}> already acknowledged this alert ${slackDate(result.at)}.`);
        return;
      case 'acknowledged': {
        deps.metrics.alerts.inc({ rule: key.ruleId, outcome: 'acknowledged' });
        log.info({ eventId: result.eventId }, 'alert acknowledged');
        const status = `:eyes: Acknowledged by <@${userId}> at ${slackDate(result.at)}`;
        const update = (blocks: readonly MessageBlock[]) =>
          withAlertStatus(withoutAlertControl(blocks, ACKNOWLEDGE_ACTION), 'acknowledged', status);
        await updateAlertMessage({ body, client, log }, update, `Acknowledged by <@${userId}>`);
        return;
      }
    }
  };
}
