/** The "Next" button under a page of /audit results: the following page, in place of the current one (owners only). */
import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { decodeCursor, listEvents } from '../../../store/queries.ts';
import { buildEventsPage, decodeNextPageValue } from '../../blocks/events-page.ts';
import { workspaceForTeam, type SlackDeps } from '../../context.ts';

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs;

export function nextPageAction(deps: SlackDeps) {
  return async ({ body, action, respond }: ButtonArgs): Promise<void> => {
    const workspaceId = workspaceForTeam(deps.config, body.team?.id);
    const value = decodeNextPageValue(action.value ?? '');
    const cursor = value && decodeCursor(value.cursor);
    if (!value || !cursor) {
      await respond({ response_type: 'ephemeral', replace_original: false, text: 'That page link is no longer valid; run /audit again.' });
      return;
    }
    const page = await listEvents(deps.database.db, workspaceId, value.filters, { limit: value.limit, cursor });
    await respond({
      response_type: 'ephemeral',
      replace_original: true,
      ...buildEventsPage({ ...page, filters: value.filters, limit: value.limit, pageNumber: value.pageNumber }),
    });
  };
}
