/**
 * The alert's "Silence…" menu, for owners: silences the alert's rule for the alert's resource for the chosen time
 * (recorded as an `Alert Silenced` audit event) and says so on the alert, keeping its other status lines and buttons.
 */
import type { AllMiddlewareArgs, BlockAction, SlackActionMiddlewareArgs, StaticSelectAction } from '@slack/bolt';
import { tryParseDuration } from '../../../duration.ts';
import { alertByMessage } from '../../../store/alerts.ts';
import { getEvent } from '../../../store/queries.ts';
import { createSilence } from '../../../store/silences.ts';
import { SILENCE_DURATIONS, withAlertStatus } from '../../blocks/alert.ts';
import { silencedStatusText } from '../../blocks/silences.ts';
import { workspaceForTeam, type SlackDeps } from '../../context.ts';
import { updateAlertMessage } from './alert-message.ts';

type SelectArgs = SlackActionMiddlewareArgs<BlockAction<StaticSelectAction>> & AllMiddlewareArgs;

export function silenceAction(deps: SlackDeps) {
  return async ({ body, action, client, respond }: SelectArgs): Promise<void> => {
    const workspaceId = workspaceForTeam(deps.config, body.team?.id);
    const userId = body.user.id;
    const chosen = SILENCE_DURATIONS.find((d) => d.value === action.selected_option?.value);
    const log = deps.logger.child({ action: 'silence', user: userId, workspaceId, duration: chosen?.value });
    const tell = (text: string) => respond({ response_type: 'ephemeral', replace_original: false, text });
    const durationMs = chosen && tryParseDuration(chosen.value);
    const channelId = body.channel?.id ?? body.container?.channel_id;
    const ts = body.message?.ts ?? body.container?.message_ts;
    if (!chosen || !durationMs || !channelId || !ts) {
      await tell('Choose how long to silence for from the alert’s *Silence…* menu.');
      return;
    }
    // The message names the alert: which rule, which event, and so which resource.
    const alert = await alertByMessage(deps.database.db, { channelId, ts });
    const event = alert && alert.workspaceId === workspaceId ? await getEvent(deps.database.db, workspaceId, alert.eventId) : undefined;
    if (!alert || !event) {
      await tell('That alert is not in this workspace’s audit trail any more, so it cannot be silenced from here.');
      return;
    }
    const rule = deps.rules.current().find((r) => r.id === alert.ruleId);
    const made = await createSilence(deps.database.db, {
      actor: { type: 'user', id: userId, ...(body.user.name && { name: body.user.name }) },
      context: { via: 'slack', slackTeamId: body.team?.id ?? null, slackChannelId: channelId },
      workspaceId,
      ruleId: alert.ruleId,
      resourceId: event.resource.id,
      channel: rule?.channel ?? alert.channel,
      durationMs,
      duration: chosen.value,
    });
    log.info({ silenceId: made.silence.id, ruleId: alert.ruleId, resourceId: event.resource.id }, 'silenced from an alert');
    const status = silencedStatusText(made.silence, userId, chosen.label);
    const updated = await updateAlertMessage({ body, client, log }, (blocks) => withAlertStatus(blocks, 'silenced', status), status);
    if (!updated) await tell(status);
  };
}
