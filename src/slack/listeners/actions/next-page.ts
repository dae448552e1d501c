/**
 * The "Next" button under a page of /audit results: the following page, in place of the current one (owners only);
 * in a modal opened from the App Home, the modal is updated instead (a view has no response_url).
 */
import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { decodeCursor, listEvents } from '../../../store/queries.ts';
import { buildEventsPage, decodeNextPageValue } from '../../blocks/events-page.ts';
import { buildEventsModal } from '../../blocks/home.ts';
import { type SlackDeps, workspaceForTeam } from '../../context.ts';

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs;

export function nextPageAction(deps: SlackDeps) {
  return async ({ body, action, client, respond }: ButtonArgs): Promise<void> => {
    const workspaceId = workspaceForTeam(deps.config, body.team?.id);
    const value = decodeNextPageValue(action.value ?? '');
    const cursor = value && decodeCursor(value.cursor);
    if (!value || !cursor) {
      // Only a forged value gets here, and a modal has nowhere to say so.
      if (!(respond as typeof respond | undefined)) return;
      await respond({
        response_type: 'ephemeral',
        replace_original: false,
        text: 'That page link is no longer valid; run /audit again.',
      });
      return;
    }
    const page = await listEvents(deps.database.db, workspaceId, value.filters, { limit: value.limit, cursor });
    const { filters, limit, pageNumber } = value;
    const built = buildEventsPage({ ...page, filters, limit, pageNumber });
    const { view } = body;
    if (view?.type === 'modal' && view.id) {
      await client.views.update({ view_id: view.id, hash: view.hash, view: buildEventsModal(built, view.title?.text) });
      return;
    }
    await respond({ response_type: 'ephemeral', replace_original: true, ...built });
  };
}
