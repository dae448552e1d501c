/** `/audit`: help, a page of events, a CSV export, forwarding, silences or the Segment import (SPEC section 5). */
import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from '@slack/bolt';
import { EXPORT_JOB, exportJob, exportJobId } from '../../../queue/names.ts';
import { listEvents } from '../../../store/queries.ts';
import { buildEventsPage } from '../../blocks/events-page.ts';
import { buildHelpBlocks } from '../../blocks/help.ts';
import { parseCommandText } from '../../command/parse.ts';
import { type SlackDeps, workspaceForTeam } from '../../context.ts';
import { escapeMrkdwn } from '../../mrkdwn.ts';
import { runForwardCommand } from './forward.ts';
import { runImportCommand } from './import.ts';
import { runSilenceCommand } from './silence.ts';

/** Acknowledged by the owner check in front of it, so every answer goes through respond(). */
export function auditCommand(deps: SlackDeps) {
  return async ({ command, respond }: SlackCommandMiddlewareArgs & AllMiddlewareArgs): Promise<void> => {
    const workspaceId = workspaceForTeam(deps.config, command.team_id);
    const parsed = parseCommandText(command.text ?? '');
    switch (parsed.kind) {
      case 'help': {
        await respond({ response_type: 'ephemeral', ...buildHelpBlocks() });
        return;
      }
      case 'error': {
        const text = `:warning: ${escapeMrkdwn(parsed.message)}\nType \`/audit help\` for the syntax.`;
        await respond({ response_type: 'ephemeral', text });
        return;
      }
      case 'export': {
        const text = ':hourglass_flowing_sand: Exporting… the CSV will be posted in this channel when it is ready.';
        await respond({ response_type: 'ephemeral', text });
        const { channel_id: channelId, user_id: userId } = command;
        const job = exportJob({ workspaceId, channelId, userId, filters: parsed.filters });
        await deps.exports.add(EXPORT_JOB, job, { jobId: exportJobId(command.trigger_id) });
        return;
      }
      case 'forward': {
        await runForwardCommand(deps, parsed, command, workspaceId, respond);
        return;
      }
      case 'silences':
      case 'silence':
      case 'unsilence': {
        await runSilenceCommand(deps, parsed, command, workspaceId, respond);
        return;
      }
      case 'import': {
        await runImportCommand(deps, workspaceId, respond);
        return;
      }
      case 'query': {
        const page = await listEvents(deps.database.db, workspaceId, parsed.filters, { limit: parsed.limit });
        const { filters, limit } = parsed;
        await respond({ response_type: 'ephemeral', ...buildEventsPage({ ...page, filters, limit, pageNumber: 1 }) });
        return;
      }
    }
  };
}
