/** Updating an alert in place after a click on it: what Acknowledge, Revert and Silence share. */
import type { BlockAction, BlockElementAction, types } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { Logger } from '../../../logger.ts';
import { touchGroupHeadedBy } from '../../../store/alert-groups.ts';
import type { AlertKey } from '../../../store/alerts.ts';
import type { SlackDeps } from '../../context.ts';

/** A block of the clicked message, as Slack hands it back. */
export type MessageBlock = types.KnownBlock | types.Block;

/**
 * Rewrites the clicked alert's blocks with `update` and sends them with chat.update. The fallback text stays the
 * alert's own (what notifications and screen readers read); `note` stands in only when the click did not carry it.
 * Resolves false (and logs) when there is no message to update or Slack refuses.
 */
export async function updateAlertMessage(
  click: { body: BlockAction<BlockElementAction>; client: WebClient; log: Logger },
  update: (blocks: readonly MessageBlock[]) => MessageBlock[],
  note: string,
): Promise<boolean> {
  const { body, client, log } = click;
  const channel = body.channel?.id ?? body.container?.channel_id;
  const ts = body.message?.ts ?? body.container?.message_ts;
  if (!channel || !ts || !body.message) return false;
  const blocks = update((body.message.blocks ?? []) as MessageBlock[]);
  const original = typeof body.message.text === 'string' ? body.message.text : '';
  const text = original || note;
  try {
    await client.chat.update({ channel, ts, blocks, text });
    return true;
  } catch (error) {
    log.warn({ err: error }, 'could not update the alert message');
    return false;
  }
}

/**
 * After a click's update of a message that is (or has since become) a grouped alert: the click carried the message as
 * the clicker saw it, which may be older than the group's latest redraw and may have landed after it, so the updater
 * draws it once more from Postgres, with the new status line. Best effort: the click's own commit asked for a redraw
 * already.
 */
export async function redrawGroupHeadedBy(deps: SlackDeps, key: AlertKey, log: Logger): Promise<void> {
  await touchGroupHeadedBy(deps.database.db, key).catch((error: unknown) =>
    log.warn({ err: error }, 'could not ask for the grouped alert to be redrawn'),
  );
}
