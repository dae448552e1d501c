/** The alert's "Show trail" button: the recent history of the same resource, to the clicker only (owners only). */
import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { getEvent, listEvents } from '../../../store/queries.ts';
import { parseAlertButtonValue } from '../../blocks/alert.ts';
import { buildEventsPage } from '../../blocks/events-page.ts';
import { type SlackDeps, workspaceForTeam } from '../../context.ts';

const TRAIL_LENGTH = 10;

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs;

export function showTrailAction(deps: SlackDeps) {
  return async ({ body, action, respond }: ButtonArgs): Promise<void> => {
    const workspaceId = workspaceForTeam(deps.config, body.team?.id);
    const value = parseAlertButtonValue(action.value);
    const event = value && value.w === workspaceId ? await getEvent(deps.database.db, workspaceId, value.e) : undefined;
    if (!event) {
      await respond({
        response_type: 'ephemeral',
        replace_original: false,
        text: 'That event is no longer stored (it may have passed the retention period).',
      });
      return;
    }
    const filters = { resourceId: event.resource.id, resourceType: event.resource.type };
    const page = await listEvents(deps.database.db, workspaceId, filters, { limit: TRAIL_LENGTH });
    await respond({
      response_type: 'ephemeral',
      replace_original: false,
      ...buildEventsPage({ ...page, filters, limit: TRAIL_LENGTH, pageNumber: 1 }),
    });
  };
}
