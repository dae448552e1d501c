import { describe, expect, it } from 'vitest';
import { buildImportStatus } from '../../src/slack/blocks/import-status.ts';
import type { SegmentImportRow } from '../../src/store/schema/index.ts';

const NOW = new Date('2026-11-25T10:00:00.000Z');
const PULL = { intervalMs: 60_000, sinceMs: 90 * 86_400_000 };

function row(overrides: Partial<SegmentImportRow> = {}): SegmentImportRow {
  return {
    workspaceId: 'acme',
    segmentWorkspaceId: 'VWDxzzIpI5',
    watermark: new Date('2026-11-25T09:58:00.000Z'),
    windowStart: null,
    windowCursor: null,
    windowNewest: null,
    windowPages: 0,
    windowImported: 0,
    importedCount: 1204,
    oldestImportedAt: new Date('2026-08-27T10:00:00.000Z'),
    newestImportedAt: new Date('2026-11-25T09:58:00.000Z'),
    lastPollAt: new Date('2026-11-25T09:59:30.000Z'),
    lastPollResult: 'ok',
    lastPollImported: 3,
    lastSuccessAt: new Date('2026-11-25T09:59:30.000Z'),
    lastError: null,
    lastErrorKind: null,
    lastErrorAt: null,
    failures: 0,
    nextPollAt: new Date('2026-11-25T10:00:30.000Z'),
    ...overrides,
  };
}

const date = (iso: string) => `<!date^${Date.parse(iso) / 1000}^{date_short_pretty} {time}|${iso}>`;

describe('/audit import status', () => {
  it('says the import is off, how to turn it on, and that Segment can push instead', () => {
    const status = buildImportStatus({ workspaceId: 'acme', pull: undefined, row: undefined, now: NOW });
    expect(status.text).toContain('*The Segment import is off* for workspace `acme`');
    expect(status.text).toContain('It has never run for this workspace');
    expect(status.text).toContain('`SEGMENT_PULL_WORKSPACE`');
    expect(JSON.stringify(status.blocks)).toContain('/v1/segment');
  });

  it('shows the last poll and its result, what was imported and when the next poll is', () => {
    const status = buildImportStatus({ workspaceId: 'acme', pull: PULL, row: row(), now: NOW });
    expect(status.text.split('\n')).toEqual([
      ':inbox_tray: *The Segment import is on* for workspace `acme`: ' +
        'Segment’s audit trail is read from its Public API every 1 min.',
      '• Segment workspace `VWDxzzIpI5`',
      `• Last poll ${date('2026-11-25T09:59:30.000Z')}: :white_check_mark: ok, 3 new events`,
      `• Imported 1,204 events, from ${date('2026-08-27T10:00:00.000Z')} to ${date('2026-11-25T09:58:00.000Z')}`,
      `• Next try ${date('2026-11-25T10:00:30.000Z')}`,
    ]);
  });

  it('shows a failure with its kind, the streak, Segment’s words escaped, and the next try', () => {
    const failed = row({
      lastPollResult: 'error',
      lastErrorKind: 'unauthorized',
      lastError: 'Segment refused the Public API token (401): <!channel> & <https://evil|click>',
      lastErrorAt: new Date('2026-11-25T09:59:30.000Z'),
      failures: 3,
      segmentWorkspaceId: 'ws_<@U123>',
    });
    const status = buildImportStatus({ workspaceId: 'acme', pull: PULL, row: failed, now: NOW });
    expect(status.text).toContain(':x: failed (unauthorized) (3 failures in a row)');
    expect(status.text).toContain(
      '_Segment refused the Public API token (401): &lt;!channel&gt; &amp; &lt;https://evil|click&gt;_',
    );
    expect(status.text).toContain('`ws_&lt;@U123&gt;`');
    expect(status.text.replace(/<!date\^[^>]+>/g, '')).not.toMatch(/[<>]/);
    expect(status.text).toContain(`• Next try ${date('2026-11-25T10:00:30.000Z')}`);
  });

  it('shows a window being read, a rate limit, and an import that has not polled yet', () => {
    const reading = buildImportStatus({
      workspaceId: 'acme',
      pull: PULL,
      row: row({
        windowStart: new Date('2026-08-27T10:00:00.000Z'),
        windowPages: 4,
        windowImported: 800,
        lastPollResult: 'rate_limited',
        nextPollAt: null,
      }),
      now: NOW,
    });
    expect(reading.text).toContain('Segment asked us to slow down (429)');
    expect(reading.text).toContain(
      `Reading Segment’s events since ${date('2026-08-27T10:00:00.000Z')}: 4 pages so far, 800 new events`,
    );
    expect(reading.text).toContain('• Next try now');

    const waiting = buildImportStatus({ workspaceId: 'acme', pull: PULL, row: undefined, now: NOW });
    expect(waiting.text).toContain('It has not polled yet. The first poll reaches back 90 d');
  });
});
