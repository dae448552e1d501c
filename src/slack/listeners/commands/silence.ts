/** `/audit silences`, `/audit silence …` and `/audit unsilence <id>`, for owners; each change is an audit event. */
import type { RespondFn, SlashCommand } from '@slack/bolt';
import {
  countActiveSilences,
  countHeldBack,
  createSilence,
  endSilence,
  listActiveSilences,
} from '../../../store/silences.ts';
import { buildSilencesList } from '../../blocks/silences.ts';
import { checkRuleId } from '../../command/silence.ts';
import type { SilenceCommand } from '../../command/types.ts';
import type { SlackDeps } from '../../context.ts';
import { escapeMrkdwn, slackDate, truncate } from '../../mrkdwn.ts';

/** Silences `/audit silences` shows with a button; more are counted. */
const LISTED = 40;

export async function runSilenceCommand(
  deps: SlackDeps,
  parsed: SilenceCommand,
  command: SlashCommand,
  workspaceId: string,
  respond: RespondFn,
): Promise<void> {
  const log = deps.logger.child({ command: `/audit ${parsed.kind}`, user: command.user_id, workspaceId });
  const tell = (text: string) => respond({ response_type: 'ephemeral', text });
  const requester = {
    actor: { type: 'user' as const, id: command.user_id, ...(command.user_name && { name: command.user_name }) },
    context: { via: 'slack', slackTeamId: command.team_id ?? null, slackChannelId: command.channel_id ?? null },
  };
  const { db } = deps.database;
  try {
    switch (parsed.kind) {
      case 'silences': {
        const [silences, total] = await Promise.all([
          listActiveSilences(db, workspaceId, LISTED),
          countActiveSilences(db, workspaceId),
        ]);
        await respond({ response_type: 'ephemeral', ...buildSilencesList(workspaceId, silences, total) });
        return;
      }
      case 'silence': {
        const rules = deps.rules.current();
        const problem = checkRuleId(
          parsed.ruleId,
          rules.map((rule) => rule.id),
        );
        if (problem) {
          await tell(`:warning: ${escapeMrkdwn(problem)}\nType \`/audit help\` for the syntax.`);
          return;
        }
        const rule = rules.find((r) => r.id === parsed.ruleId)!;
        const made = await createSilence(db, {
          ...requester,
          workspaceId,
          ruleId: rule.id,
          resourceId: parsed.resourceId,
          channel: rule.channel,
          durationMs: parsed.durationMs,
          duration: parsed.duration,
        });
        const { silence } = made;
        const until = slackDate(silence.endsAt);
        const scope = parsed.resourceId ? `resource \`${part(parsed.resourceId)}\`` : 'every resource';
        const head = made.replaced
          ? `:no_bell: Silence #${silence.id} of rule \`${part(rule.id)}\` for ${scope} now runs until ${until}.`
          : `:no_bell: Silenced rule \`${part(rule.id)}\` for ${scope} for ${part(parsed.duration)}, until ${until} ` +
            `(silence #${silence.id}).`;
        log.info(
          { silenceId: silence.id, ruleId: rule.id, resourceId: parsed.resourceId, replaced: made.replaced },
          'silenced',
        );
        await tell(
          `${head}\nIts alerts are stored and counted but not posted; ` +
            `when it ends, a summary goes to ${channel(rule.channel)}. ` +
            `\`/audit unsilence ${silence.id}\` ends it early. This change is recorded in the audit trail.`,
        );
        return;
      }
      case 'unsilence': {
        const ended = await endSilence(db, { ...requester, workspaceId, id: parsed.id });
        if (ended.status === 'not_found') {
          await tell(
            `There is no silence #${parsed.id} in workspace \`${part(workspaceId)}\`. ` +
              '`/audit silences` lists the running ones.',
          );
          return;
        }
        if (ended.status === 'already_ended') {
          await tell(`Silence #${parsed.id} already ended ${slackDate(ended.silence.endsAt)}; nothing changed.`);
          return;
        }
        const held = await countHeldBack(db, ended.silence.id);
        log.info({ silenceId: ended.silence.id }, 'unsilenced');
        await tell(
          `:bell: Silence #${ended.silence.id} (rule \`${part(ended.silence.ruleId)}\`) has ended: ` +
            'its alerts are posted again. ' +
            `A summary of the ${held === 1 ? '1 alert' : `${held} alerts`} it held back ` +
            `goes to ${channel(ended.silence.channel)}. ` +
            'This change is recorded in the audit trail.',
        );
        return;
      }
    }
  } catch (error) {
    log.error({ err: error }, 'silence command failed');
    await tell(':x: Could not do that because of an unexpected error; see the service log.');
  }
}

/** A rule's channel as the rule names it: an ID becomes a channel link, a name stays text. */
function channel(name: string): string {
  return /^[CG][A-Z0-9]+$/.test(name) ? `<#${name}>` : `*${part(name)}*`;
}

function part(text: string): string {
  return truncate(escapeMrkdwn(text), 200);
}
