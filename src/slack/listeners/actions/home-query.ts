/**
 * The App Home's query buttons, for owners: a modal with the first page of the query's events (its Next pages in the
 * modal). The modal opens at once with "Loading…", because the click's trigger expires in 3 seconds.
 */
import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { listEvents } from '../../../store/queries.ts';
import { buildEventsPage } from '../../blocks/events-page.ts';
import { buildEventsModal, buildLoadingModal, HOME_QUERIES } from '../../blocks/home.ts';
import { type SlackDeps, workspaceForTeam } from '../../context.ts';

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs;

const PAGE = 20;

export function homeQueryAction(deps: SlackDeps) {
  return async ({ body, action, client }: ButtonArgs): Promise<void> => {
    const workspaceId = workspaceForTeam(deps.config, body.team?.id);
    const log = deps.logger.child({ action: 'home query', user: body.user.id, workspaceId, query: action.value });
    const query = HOME_QUERIES.find((q) => q.id === action.value);
    if (!query) return;
    try {
      const opened = await client.views.open({ trigger_id: body.trigger_id, view: buildLoadingModal(query.label) });
      const filters = query.filters(new Date());
      const page = await listEvents(deps.database.db, workspaceId, filters, { limit: PAGE });
      const built = buildEventsPage({ ...page, filters, limit: PAGE, pageNumber: 1 });
      await client.views.update({ view_id: opened.view!.id!, view: buildEventsModal(built, query.label) });
    } catch (error) {
      log.warn({ err: error }, 'could not show the query in a modal');
    }
  };
}
