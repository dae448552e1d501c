/** `/audit forward status|on|off` (SPEC section 9), for owners; the toggles are recorded as audit events. */
import type { RespondFn, SlashCommand } from '@slack/bolt';
import { type ToggleSource, turnForwardingOff, turnForwardingOn } from '../../../forwarding/settings.ts';
import { maskWriteKey } from '../../../forwarding/tracking-client.ts';
import { getForwardingStatus } from '../../../store/forwarding.ts';
import { buildForwardingStatus, NOT_SENT_WHILE_OFF } from '../../blocks/forwarding-status.ts';
import { parseCommandText } from '../../command/parse.ts';
import type { ForwardCommand } from '../../command/types.ts';
import type { SlackDeps } from '../../context.ts';
import { escapeMrkdwn, slackDate, truncate } from '../../mrkdwn.ts';

export async function runForwardCommand(
  deps: SlackDeps,
  parsed: ForwardCommand,
  command: SlashCommand,
  workspaceId: string,
  respond: RespondFn,
): Promise<void> {
  const log = deps.logger.child({
    command: '/audit forward',
    action: parsed.action,
    user: command.user_id,
    workspaceId,
  });
  const tell = (text: string) => respond({ response_type: 'ephemeral', text });
  const source: ToggleSource = {
    actor: { type: 'user', id: command.user_id, ...(command.user_name && { name: command.user_name }) },
    context: { via: 'slack', slackTeamId: command.team_id ?? null, slackChannelId: command.channel_id ?? null },
  };
  const workspace = `\`${escapeMrkdwn(workspaceId)}\``;
  try {
    switch (parsed.action) {
      case 'status': {
        const status = await getForwardingStatus(deps.database.db, workspaceId);
        await respond({ response_type: 'ephemeral', ...buildForwardingStatus(workspaceId, status) });
        return;
      }
      case 'on': {
        const result = await turnForwardingOn(deps.database.db, {
          ...source,
          workspaceId,
          writeKey: parsed.writeKey,
          name: parsed.name,
          since: parsed.since,
        });
        const key = `\`${escapeMrkdwn(maskWriteKey(parsed.writeKey))}\``;
        const to = parsed.name
          ? `the Segment source *${escapeMrkdwn(truncate(parsed.name, 200))}* (write key ${key})`
          : `the Segment source with write key ${key}`;
        const lines = [
          result.wasOn
            ? `:satellite_antenna: Audit forwarding for workspace ${workspace} now goes to ${to}. ` +
              'Events not yet delivered are kept and go there too.'
            : `:satellite_antenna: Audit forwarding is on for workspace ${workspace}: ` +
              `every new audit event goes to ${to}.`,
        ];
        if (parsed.since) {
          lines.push(
            `Backfill: ${result.backfill.toLocaleString('en-US')} stored events received ` +
              `since ${slackDate(parsed.since)} will be sent first.`,
          );
        } else if (!result.wasOn) {
          lines.push(escapeMrkdwn(NOT_SENT_WHILE_OFF));
        }
        lines.push('This change is recorded in the audit trail. `/audit forward status` shows progress.');
        log.info(
          { eventId: result.eventId, backfill: result.backfill, wasOn: result.wasOn },
          'audit forwarding turned on',
        );
        await tell(lines.join('\n'));
        return;
      }
      case 'off': {
        const result = await turnForwardingOff(deps.database.db, { ...source, workspaceId });
        if (!result) {
          await tell(`Audit forwarding is already off for workspace ${workspace}; nothing changed.`);
          return;
        }
        const dropped =
          result.undelivered > 0
            ? ` ${result.undelivered.toLocaleString('en-US')} stored events had not been delivered yet ` +
              'and will not be sent.'
            : '';
        log.info({ eventId: result.eventId, undelivered: result.undelivered }, 'audit forwarding turned off');
        await tell(
          `:black_circle_for_record: Audit forwarding is off for workspace ${workspace}.${dropped} ` +
            'This change is recorded in the audit trail.',
        );
        return;
      }
    }
  } catch (error) {
    log.error({ err: error }, 'audit forward command failed');
    await tell(':x: Could not do that because of an unexpected error; see the service log.');
  }
}

/**
 * The command text with any write key masked, for the record of a refused attempt: a non-owner who pastes a real key
 * must not put it in the audit trail (which is itself forwarded and shown in Slack).
 */
export function maskWriteKeysInCommand(text: string): string {
  let masked = text.replace(
    /^(\s*forward\s+on\s+)([^\s\-—–]\S*)/i,
    (_all, before: string, key: string) => `${before}${maskWriteKey(key)}`,
  );
  const parsed = parseCommandText(text);
  if (parsed.kind === 'forward' && parsed.action === 'on')
    masked = masked.replaceAll(parsed.writeKey, maskWriteKey(parsed.writeKey));
  return masked;
}
