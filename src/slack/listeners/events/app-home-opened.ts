/** `app_home_opened`: the App Home tab for whoever opened it (owners see the dashboard, others how to become one). */
import type { AllMiddlewareArgs, SlackEventMiddlewareArgs } from '@slack/bolt';
import type { SlackDeps } from '../../context.ts';

export function appHomeOpened(deps: SlackDeps) {
  return async ({ event, body }: SlackEventMiddlewareArgs<'app_home_opened'> & AllMiddlewareArgs): Promise<void> => {
    // The Messages tab sends this event too; only the Home tab has a view to publish.
    if (event.tab !== 'home') return;
    await deps.home.opened(event.user, body.team_id);
  };
}
