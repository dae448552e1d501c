/**
 * The Unsilence button (on `/audit silences` and the App Home), for owners: ends the silence early (an `Alert
 * Unsilenced` audit event) and shows the list again without it, where the click came from.
 */
import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { countActiveSilences, endSilence, listActiveSilences } from '../../../store/silences.ts';
import { buildSilencesList } from '../../blocks/silences.ts';
import { type SlackDeps, workspaceForTeam } from '../../context.ts';
import { slackDate } from '../../mrkdwn.ts';

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs;

export function unsilenceAction(deps: SlackDeps) {
  return async ({ body, action, respond }: ButtonArgs): Promise<void> => {
    const workspaceId = workspaceForTeam(deps.config, body.team?.id);
    const userId = body.user.id;
    const log = deps.logger.child({ action: 'unsilence', user: userId, workspaceId, value: action.value });
    const id = /^\d{1,9}$/.test(action.value ?? '') ? Number(action.value) : undefined;
    const ended = id
      ? await endSilence(deps.database.db, {
          workspaceId,
          id,
          actor: { type: 'user', id: userId, ...(body.user.name && { name: body.user.name }) },
          context: { via: 'slack', slackTeamId: body.team?.id ?? null, slackChannelId: body.channel?.id ?? null },
        })
      : ({ status: 'not_found' } as const);
    if (ended.status === 'ended') log.info({ silenceId: id }, 'unsilenced');

    // A click in the App Home has no response_url: the home shows the outcome (the store's notification refreshes it
    // for other owners; this one is for the clicker, at once).
    if (!(respond as typeof respond | undefined)) {
      await deps.home.publishFor(userId, body.team?.id);
      return;
    }
    const note =
      ended.status === 'ended'
        ? `:bell: Silence #${id} has ended; a summary of what it held back goes to the rule's channel.`
        : ended.status === 'already_ended'
          ? `Silence #${id} had already ended ${slackDate(ended.silence.endsAt)}.`
          : 'That silence is not in this workspace.';
    const { db } = deps.database;
    const [silences, total] = await Promise.all([
      listActiveSilences(db, workspaceId, 40),
      countActiveSilences(db, workspaceId),
    ]);
    const list = buildSilencesList(workspaceId, silences, total);
    await respond({
      response_type: 'ephemeral',
      replace_original: true,
      text: `${note} ${list.text}`,
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: note } }, ...list.blocks],
    });
  };
}
