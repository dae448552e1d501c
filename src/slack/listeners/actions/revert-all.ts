/**
 * A grouped alert's "Revert all" (owners only): claims a run and queues it (revert/revert-all.ts); the work and its
 * progress happen on the alert itself, so the clicker is only told it started, or who is already running it.
 */
import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { requestRevertAll } from '../../../revert/revert-all.ts';
import type { RevertScope } from '../../../store/alert-groups.ts';
import { parseGroupButtonValue } from '../../blocks/grouped-alert.ts';
import { type SlackDeps, workspaceForTeam } from '../../context.ts';

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs;

/** `scope` all: the group's events (Revert all); failed: the last run's failures (Retry failed, retry-failed.ts). */
export function revertAllAction(deps: SlackDeps, scope: RevertScope = 'all') {
  return async ({ body, action, respond }: ButtonArgs): Promise<void> => {
    const workspaceId = workspaceForTeam(deps.config, body.team?.id);
    const tell = (text: string) => respond({ response_type: 'ephemeral', replace_original: false, text });
    const value = parseGroupButtonValue(action.value);
    if (!value || value.w !== workspaceId) {
      await tell(
        'That grouped alert is not in this workspace’s audit trail any more, so it cannot be reverted from here.',
      );
      return;
    }
    if (!deps.revertTarget) {
      await tell('Revert is off here: the service has no SEGMENT_API_TOKEN.');
      return;
    }
    const started = await requestRevertAll(deps.database.db, deps.revertAll, {
      workspaceId,
      groupId: value.g,
      userId: body.user.id,
      scope,
      upTo: value.n ?? 0,
    });
    deps.logger.info(
      { action: `revert-all:${scope}`, user: body.user.id, workspaceId, groupId: value.g, ...started },
      'Revert all requested',
    );
    switch (started.status) {
      case 'started': {
        const what = scope === 'failed' ? 'Retrying' : 'Reverting';
        await tell(
          `${what} ${started.total.toLocaleString('en-US')} change${started.total === 1 ? '' : 's'}; ` +
            'the alert shows the progress.',
        );
        return;
      }
      case 'busy':
        await tell(
          `${started.by ? `<@${started.by}>` : 'Someone'} is already reverting this group; ` +
            'the alert shows the progress.',
        );
        return;
      case 'not_found':
        await tell(
          'That grouped alert is not in this workspace’s audit trail any more, so it cannot be reverted from here.',
        );
        return;
    }
  };
}
