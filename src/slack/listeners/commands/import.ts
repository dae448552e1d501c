/** `/audit import status` (SPEC section 5), for owners: the Segment import of this team's workspace. */
import type { RespondFn } from '@slack/bolt';
import { getSegmentImport } from '../../../store/segment-import.ts';
import { buildImportStatus } from '../../blocks/import-status.ts';
import type { SlackDeps } from '../../context.ts';

export async function runImportCommand(deps: SlackDeps, workspaceId: string, respond: RespondFn): Promise<void> {
  try {
    const { pull } = deps.config.segment;
    // Another workspace's import is none of this team's business: it reads as off here.
    const mine = pull?.workspaceId === workspaceId ? pull : undefined;
    const row = await getSegmentImport(deps.database.db, workspaceId);
    await respond({ response_type: 'ephemeral', ...buildImportStatus({ workspaceId, pull: mine, row }) });
  } catch (error) {
    deps.logger.error({ err: error, command: '/audit import', workspaceId }, 'audit import status failed');
    await respond({
      response_type: 'ephemeral',
      text: ':x: Could not read the import status because of an unexpected error; see the service log.',
    });
  }
}
