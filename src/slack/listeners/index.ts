/** Registers every Slack listener on the app; each lives in its own file. */
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { SlackDeps } from '../context.ts';
import { NEXT_PAGE_ACTION, REVERT_ACTION, SHOW_TRAIL_ACTION } from '../ids.ts';
import { nextPageAction } from './actions/next-page.ts';
import { revertAction } from './actions/revert.ts';
import { showTrailAction } from './actions/show-trail.ts';
import { auditCommand } from './commands/audit.ts';

export function registerListeners(app: App, deps: SlackDeps): void {
  app.command('/audit', auditCommand(deps));
  app.action<BlockAction<ButtonAction>>({ action_id: NEXT_PAGE_ACTION, type: 'block_actions' }, nextPageAction(deps));
  app.action<BlockAction<ButtonAction>>({ action_id: SHOW_TRAIL_ACTION, type: 'block_actions' }, showTrailAction(deps));
  app.action<BlockAction<ButtonAction>>({ action_id: REVERT_ACTION, type: 'block_actions' }, revertAction(deps));
}
