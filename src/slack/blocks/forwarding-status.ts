/** The answer to `/audit forward status`: on or off, where to, how far delivery has got, and what went wrong. */
import type { types } from '@slack/bolt';
import { maskWriteKey } from '../../forwarding/tracking-client.ts';
import type { ForwardingStatus } from '../../store/forwarding.ts';
import { FORWARD_SYNTAX } from '../command/forward.ts';
import { escapeMrkdwn, slackDate, truncate } from '../mrkdwn.ts';

export interface ForwardingStatusMessage {
  text: string;
  blocks: types.KnownBlock[];
}

export const NOT_SENT_WHILE_OFF =
  'Events stored while forwarding was off are not sent. ' +
  `To send them, turn it on again with a backfill, e.g. \`${FORWARD_SYNTAX.backfill}\`.`;

export function buildForwardingStatus(
  workspaceId: string,
  status: ForwardingStatus | undefined,
  now = new Date(),
): ForwardingStatusMessage {
  const workspace = `\`${escapeMrkdwn(workspaceId)}\``;
  if (!status) {
    const text = `Audit forwarding is off for workspace ${workspace}: it has never been turned on.`;
    const howTo = `Turn it on with \`${FORWARD_SYNTAX.on}\` to send every new audit event to a Segment source.`;
    return message(text, [text, escapeMrkdwn(howTo)]);
  }
  const { settings } = status;
  const destination =
    `${settings.name ? `*${escapeMrkdwn(truncate(settings.name, 200))}* ` : ''}` +
    `(write key \`${escapeMrkdwn(maskWriteKey(settings.writeKey))}\`)`;
  const head = settings.enabled
    ? `:satellite_antenna: *Audit forwarding is on* for workspace ${workspace}, to the Segment source ${destination}.`
    : `:black_circle_for_record: *Audit forwarding is off* for workspace ${workspace} ` +
      `(it last went to ${destination}).`;
  const lines = [
    `• Turned ${settings.enabled ? 'on' : 'off'} by <@${escapeMrkdwn(settings.changedBy)}> ` +
      `${slackDate(settings.changedAt)}`,
  ];

  const delivered = `${count(settings.deliveredCount, 'event')} delivered since ${slackDate(settings.startedAt)}`;
  lines.push(
    `• ${delivered}${settings.lastDeliveredAt ? `; last delivery ${slackDate(settings.lastDeliveredAt)}` : ''}`,
  );
  if (settings.enabled) {
    lines.push(
      status.pending === 0
        ? '• Lag: none, every stored event has been sent'
        : `• Lag: ${count(status.pending, 'event')} not yet delivered` +
            `${status.oldestPendingAt ? `, the oldest received ${age(status.oldestPendingAt, now)} ago` : ''}`,
    );
  }
  if (status.failedBatches > 0 || settings.failedCount > 0) {
    const last = status.lastFailure
      ? `; the last (seq ${status.lastFailure.fromSeq}–${status.lastFailure.toSeq}) ` +
        `${slackDate(status.lastFailure.createdAt)}: ${reason(status.lastFailure.reason)}`
      : '';
    lines.push(
      `• Failed: ${count(status.failedBatches, 'batch', 'batches')} (${count(settings.failedCount, 'event')}) ` +
        `refused by Segment and not sent${last}`,
    );
  } else {
    lines.push('• Failed: none');
  }
  if (settings.lastError && settings.lastErrorAt) {
    const retry =
      settings.enabled && settings.retryAt && settings.retryAt > now ? `; retrying ${slackDate(settings.retryAt)}` : '';
    lines.push(`• Last error ${slackDate(settings.lastErrorAt)}: ${reason(settings.lastError)}${retry}`);
  }
  const text = `${head}\n${lines.join('\n')}`;
  return message(text, [text, escapeMrkdwn(NOT_SENT_WHILE_OFF)]);
}

function message(fallback: string, sections: string[]): ForwardingStatusMessage {
  const [first, ...rest] = sections;
  return {
    text: truncate(fallback, 1000),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: truncate(first!, 2900) } },
      ...rest.map(
        (text): types.KnownBlock => ({ type: 'context', elements: [{ type: 'mrkdwn', text: truncate(text, 1900) }] }),
      ),
    ],
  };
}

/** Segment's words (or a network error's): never trusted as mrkdwn. */
function reason(text: string): string {
  return `_${escapeMrkdwn(truncate(text, 300))}_`;
}

function count(n: number, noun: string, plural = `${noun}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? noun : plural}`;
}

function age(since: Date, now: Date): string {
  const seconds = Math.max(0, Math.round((now.getTime() - since.getTime()) / 1000));
  if (seconds < 90) return `${seconds} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `${hours} h` : `${Math.round(hours / 24)} days`;
}
