/** Registers every Slack listener on the app, each in its own file, behind the owner check where it is owner-only. */
import type {
  App,
  BlockAction,
  ButtonAction,
  Middleware,
  SlackActionMiddlewareArgs,
  SlackCommandMiddlewareArgs,
  StaticSelectAction,
} from '@slack/bolt';
import type { SlackDeps } from '../context.ts';
import {
  ACKNOWLEDGE_ACTION,
  GROUP_PAGE_NEXT_ACTION,
  GROUP_PAGE_PREVIOUS_ACTION,
  HOME_QUERY_ACTION,
  NEXT_PAGE_ACTION,
  OPEN_LINK_ACTION,
  RETRY_FAILED_ACTION,
  REVERT_ACTION,
  REVERT_ALL_ACTION,
  SHOW_ALL_ACTION,
  SHOW_FAILURES_ACTION,
  SHOW_HELD_BACK_ACTION,
  SHOW_TRAIL_ACTION,
  SILENCE_ACTION,
  UNSILENCE_ACTION,
} from '../ids.ts';
import { ackUnhandled } from './ack-unhandled.ts';
import { acknowledgeAction } from './actions/acknowledge.ts';
import { homeQueryAction } from './actions/home-query.ts';
import { nextPageAction } from './actions/next-page.ts';
import { retryFailedAction } from './actions/retry-failed.ts';
import { revertAction } from './actions/revert.ts';
import { revertAllAction } from './actions/revert-all.ts';
import { showAllAction } from './actions/show-all.ts';
import { showHeldBackAction } from './actions/show-held-back.ts';
import { showTrailAction } from './actions/show-trail.ts';
import { silenceAction } from './actions/silence.ts';
import { unsilenceAction } from './actions/unsilence.ts';
import { auditCommand } from './commands/audit.ts';
import { maskWriteKeysInCommand } from './commands/forward.ts';
import { appHomeOpened } from './events/app-home-opened.ts';
import { ownersOnly } from './owners-only.ts';

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>>;
type SelectArgs = SlackActionMiddlewareArgs<BlockAction<StaticSelectAction>>;

export function registerListeners(app: App, deps: SlackDeps): void {
  const buttonValue = ({ action }: ButtonArgs) => action.value;
  app.use(ackUnhandled);

  app.command(
    '/audit',
    // A non-owner may paste a real write key into `/audit forward on`: it must not reach the trail in full.
    ownersOnly<SlackCommandMiddlewareArgs>(deps, '/audit', ({ command }) => maskWriteKeysInCommand(command.text ?? '')),
    auditCommand(deps),
  );
  const onButton = (actionId: string | RegExp, ...listeners: Middleware<ButtonArgs>[]) =>
    app.action<BlockAction<ButtonAction>>({ action_id: actionId, type: 'block_actions' }, ...listeners);
  onButton(NEXT_PAGE_ACTION, ownersOnly(deps, 'next page'), nextPageAction(deps));
  onButton(SHOW_TRAIL_ACTION, ownersOnly(deps, 'show trail', buttonValue), showTrailAction(deps));
  onButton(REVERT_ACTION, ownersOnly(deps, 'revert', buttonValue), revertAction(deps));
  onButton(ACKNOWLEDGE_ACTION, ownersOnly(deps, 'acknowledge', buttonValue), acknowledgeAction(deps));
  onButton(UNSILENCE_ACTION, ownersOnly(deps, 'unsilence', buttonValue), unsilenceAction(deps));
  onButton(SHOW_HELD_BACK_ACTION, ownersOnly(deps, 'show held-back alerts', buttonValue), showHeldBackAction(deps));
  onButton(new RegExp(`^${HOME_QUERY_ACTION}:`), ownersOnly(deps, 'home query', buttonValue), homeQueryAction(deps));
  app.action<BlockAction<StaticSelectAction>>(
    { action_id: SILENCE_ACTION, type: 'block_actions' },
    ownersOnly<SelectArgs>(deps, 'silence', ({ action }) => action.selected_option?.value),
    silenceAction(deps),
  );
  // A link button still sends a click: acknowledged so Slack shows no error; the browser already opened the link.
  onButton(OPEN_LINK_ACTION, async ({ ack }) => {
    await ack();
  });
  app.event('app_home_opened', appHomeOpened(deps));
  onButton(SHOW_ALL_ACTION, ownersOnly(deps, 'show all', buttonValue), showAllAction(deps, true));
  onButton(SHOW_FAILURES_ACTION, ownersOnly(deps, 'show failures', buttonValue), showAllAction(deps, true));
  onButton(GROUP_PAGE_NEXT_ACTION, ownersOnly(deps, 'next page'), showAllAction(deps, false));
  onButton(GROUP_PAGE_PREVIOUS_ACTION, ownersOnly(deps, 'previous page'), showAllAction(deps, false));
  onButton(REVERT_ALL_ACTION, ownersOnly(deps, 'revert all', buttonValue), revertAllAction(deps));
  onButton(RETRY_FAILED_ACTION, ownersOnly(deps, 'retry failed reverts', buttonValue), retryFailedAction(deps));
}
