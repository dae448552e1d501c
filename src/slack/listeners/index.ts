/** Registers every Slack listener on the app, each in its own file, behind the owner check where it is owner-only. */
import type { App, BlockAction, ButtonAction, SlackActionMiddlewareArgs, SlackCommandMiddlewareArgs } from '@slack/bolt';
import type { SlackDeps } from '../context.ts';
import { NEXT_PAGE_ACTION, REVERT_ACTION, SHOW_TRAIL_ACTION } from '../ids.ts';
import { nextPageAction } from './actions/next-page.ts';
import { revertAction } from './actions/revert.ts';
import { showTrailAction } from './actions/show-trail.ts';
import { auditCommand } from './commands/audit.ts';
import { maskWriteKeysInCommand } from './commands/forward.ts';
import { ownersOnly } from './owners-only.ts';

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>>;

export function registerListeners(app: App, deps: SlackDeps): void {
  const button = (actionId: string) => ({ action_id: actionId, type: 'block_actions' }) as const;
  const buttonValue = ({ action }: ButtonArgs) => action.value;

  app.command(
    '/audit',
    // A non-owner may paste a real write key into `/audit forward on`: it must not reach the trail in full.
    ownersOnly<SlackCommandMiddlewareArgs>(deps, '/audit', ({ command }) => maskWriteKeysInCommand(command.text ?? '')),
    auditCommand(deps),
  );
  app.action<BlockAction<ButtonAction>>(button(NEXT_PAGE_ACTION), ownersOnly<ButtonArgs>(deps, 'next page'), nextPageAction(deps));
  app.action<BlockAction<ButtonAction>>(button(SHOW_TRAIL_ACTION), ownersOnly<ButtonArgs>(deps, 'show trail', buttonValue), showTrailAction(deps));
  app.action<BlockAction<ButtonAction>>(button(REVERT_ACTION), ownersOnly<ButtonArgs>(deps, 'revert', buttonValue), revertAction(deps));
}
