/** `/audit`: help, a page of events, a CSV export, or forwarding (SPEC section 5). */
import type { AllMiddlewareArgs, SlackCommandMiddlewareArgs } from '@slack/bolt';
import { EXPORT_JOB } from '../../../queue/names.ts';
import { listEvents } from '../../../store/queries.ts';
import { buildEventsPage } from '../../blocks/events-page.ts';
import { buildHelpBlocks } from '../../blocks/help.ts';
import { parseCommandText } from '../../command-text.ts';
import { recordAccessDenied, REFUSAL_TEXT, workspaceForTeam, type SlackDeps } from '../../context.ts';
import { filtersToJob } from '../../export-worker.ts';
import { escapeMrkdwn } from '../../mrkdwn.ts';
import { forwardCommandProblem, maskWriteKeysInCommand, runForwardCommand } from './forward.ts';

export function auditCommand(deps: SlackDeps) {
  return async ({ command, ack, respond }: SlackCommandMiddlewareArgs & AllMiddlewareArgs): Promise<void> => {
    const workspaceId = workspaceForTeam(deps.config, command.team_id);
    const log = deps.logger.child({ command: '/audit', user: command.user_id, workspaceId });
    if (!(await deps.owners.isOwner(command.user_id))) {
      await ack({ response_type: 'ephemeral', text: REFUSAL_TEXT });
      await recordAccessDenied(deps, {
        workspaceId,
        userId: command.user_id,
        userName: command.user_name,
        teamId: command.team_id,
        channelId: command.channel_id,
        what: '/audit',
        detail: maskWriteKeysInCommand(command.text ?? ''),
      });
      log.info('refused /audit from a non-owner');
      return;
    }
    const parsed = parseCommandText(command.text ?? '');
    switch (parsed.kind) {
      case 'help': {
        await ack({ response_type: 'ephemeral', ...buildHelpBlocks() });
        return;
      }
      case 'error': {
        await ack({ response_type: 'ephemeral', text: `:warning: ${escapeMrkdwn(parsed.message)}\nType \`/audit help\` for the syntax.` });
        return;
      }
      case 'export': {
        await ack({ response_type: 'ephemeral', text: ':hourglass_flowing_sand: Exporting… the CSV will be posted in this channel when it is ready.' });
        // The trigger id makes a Slack retry of the same command one export, not two.
        await deps.exports.add(
          EXPORT_JOB,
          { workspaceId, channelId: command.channel_id, userId: command.user_id, filters: filtersToJob(parsed.filters) },
          { jobId: `export-${command.trigger_id}` },
        );
        return;
      }
      case 'forward': {
        const problem = forwardCommandProblem(parsed);
        if (problem) {
          await ack({ response_type: 'ephemeral', text: problem });
          return;
        }
        // A toggle waits for a batch being sent to Segment to be answered, which may outlast Slack's 3 seconds.
        await ack();
        await runForwardCommand(deps, parsed, command, workspaceId, respond);
        return;
      }
      case 'query': {
        await ack();
        const page = await listEvents(deps.database.db, workspaceId, parsed.filters, { limit: parsed.limit });
        await respond({ response_type: 'ephemeral', ...buildEventsPage({ ...page, filters: parsed.filters, limit: parsed.limit, pageNumber: 1 }) });
        return;
      }
    }
  };
}
