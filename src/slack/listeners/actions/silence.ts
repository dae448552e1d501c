/**
 * The alert's "Silence…" menu, for owners: silences the alert's rule for the alert's resource for the chosen time
 * (recorded as an `Alert Silenced` audit event) and says so on the alert, keeping its other status lines and buttons.
 */
import type { AllMiddlewareArgs, BlockAction, SlackActionMiddlewareArgs, StaticSelectAction } from '@slack/bolt';
import { tryParseDuration } from '../../../duration.ts';
import type { AlertKey } from '../../../store/alerts.ts';
import { alertByMessage } from '../../../store/alerts.ts';
import { getEvent } from '../../../store/queries.ts';
import { createSilence } from '../../../store/silences.ts';
import { parseAlertButtonValue, SILENCE_DURATIONS, withAlertStatus } from '../../blocks/alert.ts';
import { silencedStatusText } from '../../blocks/silences.ts';
import { type SlackDeps, workspaceForTeam } from '../../context.ts';
import { type MessageBlock, updateAlertMessage } from './alert-message.ts';

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
    // The message names the alert (which rule, which event, and so which resource): by its buttons' value, or else
    // (an alert posted before they carried the rule) by its channel and ts in the alert records.
    const { db } = deps.database;
    const alert: (AlertKey & { channel?: string }) | undefined =
      alertKeyOf((body.message?.blocks ?? []) as MessageBlock[]) ?? (await alertByMessage(db, { channelId, ts }));
    const event =
      alert && alert.workspaceId === workspaceId ? await getEvent(db, workspaceId, alert.eventId) : undefined;
    if (!alert || !event) {
      await tell('That alert is not in this workspace’s audit trail any more, so it cannot be silenced from here.');
      return;
    }
    const rule = deps.rules.current().find((r) => r.id === alert.ruleId);
    const made = await createSilence(db, {
      actor: { type: 'user', id: userId, ...(body.user.name && { name: body.user.name }) },
      context: { via: 'slack', slackTeamId: body.team?.id ?? null, slackChannelId: channelId },
      workspaceId,
      ruleId: alert.ruleId,
      resourceId: event.resource.id,
      // Where the summary goes: the rule's channel, or where the alert is when the rule has gone since.
      channel: rule?.channel ?? alert.channel ?? channelId,
      durationMs,
      duration: chosen.value,
    });
    log.info(
      { silenceId: made.silence.id, ruleId: alert.ruleId, resourceId: event.resource.id },
      'silenced from an alert',
    );
    const status = silencedStatusText(made.silence, userId, chosen.label);
    const updated = await updateAlertMessage(
      { body, client, log },
      (blocks) => withAlertStatus(blocks, 'silenced', status),
      status,
    );
    if (!updated) await tell(status);
  };
}

/** The alert a message shows, from the value its buttons carry. */
function alertKeyOf(blocks: readonly MessageBlock[]): AlertKey | undefined {
  for (const block of blocks) {
    if (block.type !== 'actions') continue;
    const { elements } = block as unknown as { elements?: { value?: string }[] };
    for (const element of elements ?? []) {
      const value = parseAlertButtonValue(element.value);
      if (value?.r) return { workspaceId: value.w, eventId: value.e, ruleId: value.r };
    }
  }
  return undefined;
}
