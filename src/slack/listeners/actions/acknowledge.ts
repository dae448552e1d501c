/**
 * The Acknowledge button of an alert or a grouped alert, for owners: marks it acknowledged (once, recorded as an
 * `Alert Acknowledged` audit event) and updates it in place with who and when, keeping every other status line and
 * button. A grouped message's acknowledgement is its first alert's (whose message it was), so it stays through redraws.
 */
import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { getGroup } from '../../../store/alert-groups.ts';
import { type AlertKey, acknowledgeAlert } from '../../../store/alerts.ts';
import {
  acknowledgedStatusText,
  parseAlertButtonValue,
  withAlertStatus,
  withoutAlertControl,
} from '../../blocks/alert.ts';
import { parseGroupButtonValue } from '../../blocks/grouped-alert.ts';
import { type SlackDeps, workspaceForTeam } from '../../context.ts';
import { ACKNOWLEDGE_ACTION } from '../../ids.ts';
import { slackDate } from '../../mrkdwn.ts';
import { type MessageBlock, redrawGroupHeadedBy, updateAlertMessage } from './alert-message.ts';

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs;

export function acknowledgeAction(deps: SlackDeps) {
  return async ({ body, action, client, respond }: ButtonArgs): Promise<void> => {
    const workspaceId = workspaceForTeam(deps.config, body.team?.id);
    const userId = body.user.id;
    const log = deps.logger.child({ action: 'acknowledge', user: userId, workspaceId, value: action.value });
    const tell = (text: string) => respond({ response_type: 'ephemeral', replace_original: false, text });
    const target = await alertToAcknowledge(deps, workspaceId, action.value);
    if (!target) {
      await tell('That alert is not in this workspace’s audit trail, so it cannot be acknowledged from here.');
      return;
    }
    const { key, group } = target;
    const result = await acknowledgeAlert(deps.database.db, key, {
      actor: { type: 'user', id: userId, ...(body.user.name && { name: body.user.name }) },
      context: { via: 'slack', slackTeamId: body.team?.id ?? null, slackChannelId: body.channel?.id ?? null },
      ...(group && { group }),
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
        log.info({ eventId: result.eventId, ...(group && { groupId: group.id }) }, 'alert acknowledged');
        const status = acknowledgedStatusText(userId, result.at);
        const update = (blocks: readonly MessageBlock[]) =>
          withAlertStatus(withoutAlertControl(blocks, ACKNOWLEDGE_ACTION), 'acknowledged', status);
        await updateAlertMessage({ body, client, log }, update, `Acknowledged by <@${userId}>`);
        await redrawGroupHeadedBy(deps, key, log);
        return;
      }
    }
  };
}

/** The alert a button names: its own (event, rule), or for a grouped message the group's first alert. */
async function alertToAcknowledge(
  deps: SlackDeps,
  workspaceId: string,
  value: string | undefined,
): Promise<{ key: AlertKey; group?: { id: number; count: number } } | undefined> {
  const alert = parseAlertButtonValue(value);
  if (alert?.r) {
    return alert.w === workspaceId ? { key: { workspaceId, eventId: alert.e, ruleId: alert.r } } : undefined;
  }
  const grouped = parseGroupButtonValue(value);
  if (!grouped || grouped.w !== workspaceId) return undefined;
  const group = await getGroup(deps.database.db, grouped.g);
  if (!group || group.workspaceId !== workspaceId) return undefined;
  return {
    key: { workspaceId, eventId: group.headEventId, ruleId: group.ruleId },
    group: { id: group.id, count: group.count },
  };
}
