/** Registers every Slack listener on the app, each in its own file, behind the owner check where it is owner-only. */
import type {
  App,
  BlockAction,
  ButtonAction,
  Middleware,
  SlackActionMiddlewareArgs,
  SlackCommandMiddlewareArgs,
} from '@slack/bolt';
import type { SlackDeps } from '../context.ts';
import {
  GROUP_PAGE_NEXT_ACTION,
  GROUP_PAGE_PREVIOUS_ACTION,
  NEXT_PAGE_ACTION,
  RETRY_FAILED_ACTION,
  REVERT_ACTION,
  REVERT_ALL_ACTION,
  SHOW_ALL_ACTION,
  SHOW_FAILURES_ACTION,
  SHOW_TRAIL_ACTION,
} from '../ids.ts';
import { ackUnhandled } from './ack-unhandled.ts';
import { nextPageAction } from './actions/next-page.ts';
import { retryFailedAction } from './actions/retry-failed.ts';
import { revertAction } from './actions/revert.ts';
import { revertAllAction } from './actions/revert-all.ts';
import { showAllAction } from './actions/show-all.ts';
import { showTrailAction } from './actions/show-trail.ts';
import { auditCommand } from './commands/audit.ts';
import { maskWriteKeysInCommand } from './commands/forward.ts';
import { ownersOnly } from './owners-only.ts';

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>>;

export function registerListeners(app: App, deps: SlackDeps): void {
  const buttonValue = ({ action }: ButtonArgs) => action.value;
  app.use(ackUnhandled);

  app.command(
    '/audit',
    // A non-owner may paste a real write key into `/audit forward on`: it must not reach the trail in full.
    ownersOnly<SlackCommandMiddlewareArgs>(deps, '/audit', ({ command }) => maskWriteKeysInCommand(command.text ?? '')),
    auditCommand(deps),
  );
  const onButton = (actionId: string, ...listeners: Middleware<ButtonArgs>[]) =>
    app.action<BlockAction<ButtonAction>>({ action_id: actionId, type: 'block_actions' }, ...listeners);
  onButton(NEXT_PAGE_ACTION, ownersOnly(deps, 'next page'), nextPageAction(deps));
  onButton(SHOW_TRAIL_ACTION, ownersOnly(deps, 'show trail', buttonValue), showTrailAction(deps));
  onButton(REVERT_ACTION, ownersOnly(deps, 'revert', buttonValue), revertAction(deps));
  onButton(SHOW_ALL_ACTION, ownersOnly(deps, 'show all', buttonValue), showAllAction(deps, true));
  onButton(SHOW_FAILURES_ACTION, ownersOnly(deps, 'show failures', buttonValue), showAllAction(deps, true));
  onButton(GROUP_PAGE_NEXT_ACTION, ownersOnly(deps, 'next page'), showAllAction(deps, false));
  onButton(GROUP_PAGE_PREVIOUS_ACTION, ownersOnly(deps, 'previous page'), showAllAction(deps, false));
  onButton(REVERT_ALL_ACTION, ownersOnly(deps, 'revert all', buttonValue), revertAllAction(deps));
  onButton(RETRY_FAILED_ACTION, ownersOnly(deps, 'retry failed reverts', buttonValue), retryFailedAction(deps));
}
