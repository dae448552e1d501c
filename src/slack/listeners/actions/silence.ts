/**
 * The "Silence…" menu of an alert or a grouped alert, for owners: silences the alert's rule for the alert's resource
 * (a grouped alert's rule for every resource, as the group spans them) for the chosen time, recorded as an
 * `Alert Silenced` audit event, and says so on the message, keeping its other status lines and buttons.
 */
import type { AllMiddlewareArgs, BlockAction, SlackActionMiddlewareArgs, StaticSelectAction } from '@slack/bolt';
import { tryParseDuration } from '../../../duration.ts';
import { getGroup } from '../../../store/alert-groups.ts';
import type { AlertKey } from '../../../store/alerts.ts';
import { alertByMessage } from '../../../store/alerts.ts';
import { getEvent } from '../../../store/queries.ts';
import { createSilence } from '../../../store/silences.ts';
import { parseAlertButtonValue, SILENCE_DURATIONS, withAlertStatus } from '../../blocks/alert.ts';
import { parseGroupButtonValue } from '../../blocks/grouped-alert.ts';
import { silencedStatusText } from '../../blocks/silences.ts';
import { type SlackDeps, workspaceForTeam } from '../../context.ts';
import { type MessageBlock, redrawGroupHeadedBy, updateAlertMessage } from './alert-message.ts';

type SelectArgs = SlackActionMiddlewareArgs<BlockAction<StaticSelectAction>> & AllMiddlewareArgs;

/** What a menu silences: the rule, for one resource or (undefined) every one, and the alert whose menu it was. */
interface SilenceTarget {
  alert: AlertKey & { groupId?: number };
  resourceId: string | undefined;
  /** The channel the alert went to, for a rule removed since. */
  channel: string | undefined;
}

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
    const blocks = (body.message?.blocks ?? []) as MessageBlock[];
    const target = await silenceTarget(deps, workspaceId, blocks, { channelId, ts });
    if (!target) {
      await tell('That alert is not in this workspace’s audit trail any more, so it cannot be silenced from here.');
      return;
    }
    const { alert, resourceId } = target;
    const rule = deps.rules.current().find((r) => r.id === alert.ruleId);
    const made = await createSilence(deps.database.db, {
      actor: { type: 'user', id: userId, ...(body.user.name && { name: body.user.name }) },
      context: { via: 'slack', slackTeamId: body.team?.id ?? null, slackChannelId: channelId },
      workspaceId,
      ruleId: alert.ruleId,
      ...(resourceId !== undefined && { resourceId }),
      // Where the summary goes: the rule's channel, or where the alert is when the rule has gone since.
      channel: rule?.channel ?? target.channel ?? channelId,
      durationMs,
      duration: chosen.value,
      fromAlert: alert,
    });
    log.info(
      { silenceId: made.silence.id, ruleId: alert.ruleId, resourceId, groupId: alert.groupId },
      alert.groupId === undefined ? 'silenced from an alert' : 'silenced from a grouped alert',
    );
    const status = silencedStatusText(made.silence, userId, chosen.label);
    const updated = await updateAlertMessage(
      { body, client, log },
      (shown) => withAlertStatus(shown, 'silenced', status),
      status,
    );
    await redrawGroupHeadedBy(deps, alert, log);
    if (!updated) await tell(status);
  };
}

/**
 * What the clicked message shows, by the values its buttons carry: an alert (its event, and so its resource), or a
 * grouped alert (its rule, every resource). An alert posted before its buttons carried the rule is found by its
 * channel and ts in the alert records.
 */
async function silenceTarget(
  deps: SlackDeps,
  workspaceId: string,
  blocks: readonly MessageBlock[],
  message: { channelId: string; ts: string },
): Promise<SilenceTarget | undefined> {
  const { db } = deps.database;
  const shown = shownOn(blocks);
  if (shown?.kind === 'group') {
    const group = shown.workspaceId === workspaceId ? await getGroup(db, shown.groupId) : undefined;
    if (!group || group.workspaceId !== workspaceId) return undefined;
    const alert = { workspaceId, eventId: group.headEventId, ruleId: group.ruleId, groupId: group.id };
    return { alert, resourceId: undefined, channel: group.channel };
  }
  const alert: (AlertKey & { channel?: string }) | undefined =
    shown?.kind === 'alert' ? shown.key : await alertByMessage(db, message);
  const event = alert && alert.workspaceId === workspaceId ? await getEvent(db, workspaceId, alert.eventId) : undefined;
  if (!alert || !event) return undefined;
  const key = { workspaceId, eventId: alert.eventId, ruleId: alert.ruleId };
  return { alert: key, resourceId: event.resource.id, channel: alert.channel };
}

/** The alert or group a message shows, from the value its buttons carry. */
function shownOn(
  blocks: readonly MessageBlock[],
): { kind: 'alert'; key: AlertKey } | { kind: 'group'; workspaceId: string; groupId: number } | undefined {
  for (const block of blocks) {
    if (block.type !== 'actions') continue;
    const { elements } = block as unknown as { elements?: { value?: string }[] };
    for (const element of elements ?? []) {
      const value = parseAlertButtonValue(element.value);
      if (value?.r) return { kind: 'alert', key: { workspaceId: value.w, eventId: value.e, ruleId: value.r } };
      const group = parseGroupButtonValue(element.value);
      if (group) return { kind: 'group', workspaceId: group.w, groupId: group.g };
    }
  }
  return undefined;
}
