/**
 * The answer to `/audit import status` (SPEC section 5): whether Segment's audit trail is imported into this
 * workspace, the last poll and how it went, what was imported, the last error and the next try.
 */
import type { types } from '@slack/bolt';
import type { SegmentImportRow } from '../../store/schema/index.ts';
import { escapeMrkdwn, slackDate, truncate } from '../mrkdwn.ts';

export interface ImportStatusMessage {
  text: string;
  blocks: types.KnownBlock[];
}

export interface ImportStatusInput {
  workspaceId: string;
  /** The import's settings when SEGMENT_PULL_WORKSPACE is this workspace; undefined when it is off for it. */
  pull: { intervalMs: number; sinceMs: number } | undefined;
  /** The import's progress; undefined before its first poll. */
  row: SegmentImportRow | undefined;
  now?: Date;
}

const PUSH_HINT =
  'Segment can also push its audit events here as they happen: Audit Forwarding into a source, and a Webhooks ' +
  'destination on that source posting to this service’s `/v1/segment` with an ingest token.';

export function buildImportStatus({
  workspaceId,
  pull,
  row,
  now = new Date(),
}: ImportStatusInput): ImportStatusMessage {
  const workspace = `\`${escapeMrkdwn(workspaceId)}\``;
  if (!pull) {
    const text = `:black_circle_for_record: *The Segment import is off* for workspace ${workspace}.`;
    const lines = [
      row?.lastPollAt
        ? `• It last polled ${slackDate(row.lastPollAt)} and imported ${count(row.importedCount, 'event')} in all.`
        : '• It has never run for this workspace.',
      '• To import Segment’s audit trail from its Public API, set `SEGMENT_PULL_WORKSPACE` to this workspace and ' +
        '`SEGMENT_API_TOKEN` on the service.',
    ];
    return message(`${text}\n${lines.join('\n')}`, PUSH_HINT);
  }

  const head =
    `:inbox_tray: *The Segment import is on* for workspace ${workspace}: ` +
    `Segment’s audit trail is read from its Public API every ${duration(pull.intervalMs)}.`;
  if (!row?.lastPollAt) {
    const waiting =
      '• It has not polled yet. The first poll reaches back ' +
      `${duration(pull.sinceMs)} and starts within moments of a process with the \`scheduler\` role starting.`;
    return message(`${head}\n${waiting}`, PUSH_HINT);
  }
  const lines: string[] = [];
  if (row.segmentWorkspaceId)
    lines.push(`• Segment workspace \`${escapeMrkdwn(truncate(row.segmentWorkspaceId, 100))}\``);
  lines.push(`• Last poll ${slackDate(row.lastPollAt)}: ${pollResult(row)}`);
  if (row.windowStart) {
    lines.push(
      `• Reading Segment’s events since ${slackDate(row.windowStart)}: ` +
        `${count(row.windowPages, 'page')} so far, ${count(row.windowImported, 'new event')}`,
    );
  }
  const range =
    row.oldestImportedAt && row.newestImportedAt
      ? `, from ${slackDate(row.oldestImportedAt)} to ${slackDate(row.newestImportedAt)}`
      : '';
  lines.push(`• Imported ${count(row.importedCount, 'event')}${range}`);
  if (row.lastError && row.lastErrorAt) {
    lines.push(`• Last error ${slackDate(row.lastErrorAt)}: ${reason(row.lastError)}`);
  }
  lines.push(`• Next try ${row.nextPollAt && row.nextPollAt > now ? slackDate(row.nextPollAt) : 'now'}`);
  return message(`${head}\n${lines.join('\n')}`, PUSH_HINT);
}

function pollResult(row: SegmentImportRow): string {
  switch (row.lastPollResult) {
    case 'ok':
      return row.windowStart
        ? ':white_check_mark: ok, more pages to read'
        : `:white_check_mark: ok, ${count(row.lastPollImported ?? 0, 'new event')}`;
    case 'rate_limited':
      return ':hourglass_flowing_sand: Segment asked us to slow down (429)';
    default: {
      const streak = row.failures > 1 ? ` (${row.failures} failures in a row)` : '';
      return `:x: failed${row.lastErrorKind ? ` (${escapeMrkdwn(row.lastErrorKind)})` : ''}${streak}`;
    }
  }
}

function message(body: string, hint: string): ImportStatusMessage {
  return {
    text: truncate(body, 1000),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: truncate(body, 2900) } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: escapeMrkdwn(hint) }] },
    ],
  };
}

/** Segment's words (or a network error's): never trusted as mrkdwn. */
function reason(text: string): string {
  return `_${escapeMrkdwn(truncate(text, 300))}_`;
}

function count(n: number, noun: string): string {
  return `${n.toLocaleString('en-US')} ${noun}${n === 1 ? '' : 's'}`;
}

function duration(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'min'],
  ];
  for (const [size, unit] of units) if (ms >= size && ms % size === 0) return `${ms / size} ${unit}`;
  return `${Math.round(ms / 1000)} s`;
}
