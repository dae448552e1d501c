/**
 * A grouped alert's "Show all" (and "Show failures"): its events, or its last Revert all's failures with their
 * reasons, a page at a time, to the clicker only (owners only). Previous and Next replace the page in place.
 */
import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { groupMembersPage, groupSummary } from '../../../store/alert-groups.ts';
import { getEvents } from '../../../store/queries.ts';
import { buildGroupPage, parseGroupButtonValue, SHOW_ALL_PAGE_SIZE } from '../../blocks/grouped-alert.ts';
import { type SlackDeps, workspaceForTeam } from '../../context.ts';

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs;

/** `fromAlert`: a new private message under the alert; otherwise the page the button sits on is replaced. */
export function showAllAction(deps: SlackDeps, fromAlert: boolean) {
  return async ({ body, action, respond }: ButtonArgs): Promise<void> => {
    const workspaceId = workspaceForTeam(deps.config, body.team?.id);
    const value = parseGroupButtonValue(action.value);
    const { db } = deps.database;
    const summary = value && value.w === workspaceId ? await groupSummary(db, value.g) : undefined;
    if (!value || !summary || summary.group.workspaceId !== workspaceId) {
      await respond({
        response_type: 'ephemeral',
        replace_original: false,
        text: 'That grouped alert is not in this workspace’s audit trail any more.',
      });
      return;
    }
    const page = value.p ?? 1;
    const failuresOnly = value.f === 1;
    const members = await groupMembersPage(db, value.g, {
      offset: (page - 1) * SHOW_ALL_PAGE_SIZE,
      limit: SHOW_ALL_PAGE_SIZE,
      failedOnly: failuresOnly,
    });
    const stored = new Map(
      (
        await getEvents(
          db,
          workspaceId,
          members.map((m) => m.eventId),
        )
      ).map((e) => [e.id, e]),
    );
    const events = members.map((m) => ({ eventId: m.eventId, event: stored.get(m.eventId), reason: m.reason }));
    await respond({
      response_type: 'ephemeral',
      replace_original: !fromAlert,
      ...buildGroupPage({ summary, page, events, failuresOnly }),
    });
  };
}
