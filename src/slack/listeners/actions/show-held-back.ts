/** "Show them" on a silence's summary (and its Next): the alerts the silence held back, to the clicker, paged. */
import type { AllMiddlewareArgs, BlockAction, ButtonAction, SlackActionMiddlewareArgs } from '@slack/bolt';
import { countHeldBack, getSilence, heldBackEvents } from '../../../store/silences.ts';
import { buildHeldBackPage, decodeHeldBackValue, HELD_BACK_PAGE } from '../../blocks/silences.ts';
import { type SlackDeps, workspaceForTeam } from '../../context.ts';

type ButtonArgs = SlackActionMiddlewareArgs<BlockAction<ButtonAction>> & AllMiddlewareArgs;

export function showHeldBackAction(deps: SlackDeps) {
  return async ({ body, action, respond }: ButtonArgs): Promise<void> => {
    const workspaceId = workspaceForTeam(deps.config, body.team?.id);
    const value = decodeHeldBackValue(action.value);
    const { db } = deps.database;
    // The silence must be of the clicker's workspace: another team's summary shows nothing here.
    const silence = value && (await getSilence(db, workspaceId, value.s));
    if (!value || !silence) {
      await respond({
        response_type: 'ephemeral',
        replace_original: false,
        text: 'That silence is not in this workspace.',
      });
      return;
    }
    const [total, events] = await Promise.all([
      countHeldBack(db, silence.id),
      heldBackEvents(db, silence.id, { limit: HELD_BACK_PAGE, offset: (value.p - 1) * HELD_BACK_PAGE }),
    ]);
    // "Show them" in the channel opens the list for the clicker; its Next pages in place.
    await respond({
      response_type: 'ephemeral',
      replace_original: value.p > 1,
      ...buildHeldBackPage(silence, events, { number: value.p, total }),
    });
  };
}
