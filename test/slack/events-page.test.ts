import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../src/catalog.ts';
import { BLOCK_KIT_LIMITS } from '../../src/slack/blocks/alert.ts';
import {
  buildEventsPage,
  decodeNextPageValue,
  type EventsPage,
  encodeNextPageValue,
  type NextPageValue,
} from '../../src/slack/blocks/events-page.ts';
import { NEXT_PAGE_ACTION } from '../../src/slack/ids.ts';
import { type EventFilters, encodeCursor } from '../../src/store/queries.ts';
import { storedEvent } from '../helpers/stored-event.ts';

const event = storedEvent;

const cursor = encodeCursor({ timestamp: '2026-11-25T09:00:00.000Z', seq: 41 });
const filters: EventFilters = {
  types: ['Warehouses Disabled'],
  actor: 'jane@acme.com',
  since: new Date('2026-11-18T00:00:00.000Z'),
};
const DATE_TOKEN = '<!date^1795600800^{date_short_pretty} {time}|2026-11-25T10:00:00.000Z>';

interface TextObject {
  type: string;
  text: string;
}
interface ButtonLike {
  type: string;
  action_id: string;
  value: string;
  text: TextObject;
}
type AnyBlock = Record<string, unknown>;

function blocksOf(page: EventsPage): AnyBlock[] {
  return page.blocks as unknown as AnyBlock[];
}

function sectionTexts(page: EventsPage): string[] {
  return blocksOf(page)
    .filter((b) => b.type === 'section')
    .map((b) => (b.text as TextObject).text);
}

function nextButton(page: EventsPage): ButtonLike | undefined {
  const actions = blocksOf(page).find((b) => b.type === 'actions');
  return (actions?.elements as ButtonLike[] | undefined)?.find((e) => e.action_id === NEXT_PAGE_ACTION);
}

/** Every text in the page with the Block Kit limit that applies to it. */
function textsWithLimits(page: EventsPage): { text: string; limit: number }[] {
  const found: { text: string; limit: number }[] = [];
  for (const block of blocksOf(page)) {
    if (block.type === 'section')
      found.push({ text: (block.text as TextObject).text, limit: BLOCK_KIT_LIMITS.sectionText });
    if (block.type === 'context')
      for (const e of block.elements as TextObject[]) found.push({ text: e.text, limit: BLOCK_KIT_LIMITS.contextText });
    if (block.type === 'actions') {
      for (const button of block.elements as ButtonLike[]) {
        found.push({ text: button.text.text, limit: BLOCK_KIT_LIMITS.buttonText });
        found.push({ text: button.value, limit: BLOCK_KIT_LIMITS.buttonValue });
      }
    }
  }
  return found;
}

/** Every `<…>` Slack would parse, in blocks and fallback text alike (button values are data, never rendered). */
function controlSequences(page: EventsPage): string[] {
  const shown = JSON.stringify({ text: page.text, blocks: page.blocks }, (key, value: unknown) =>
    key === 'value' ? undefined : value,
  );
  return [...shown.matchAll(/<[^<>]*>/g)].map((m) => m[0]);
}

describe('buildEventsPage', () => {
  it('opens with the filter summary and shows each event’s time, type, actor, resource and changes', () => {
    const page = buildEventsPage({
      events: [event(), event({ id: 'evt_02' })],
      nextCursor: null,
      filters,
      limit: 20,
      pageNumber: 1,
    });

    const [header] = blocksOf(page);
    expect(header).toMatchObject({ type: 'context' });
    expect((header!.elements as TextObject[])[0]!.text).toBe(
      ':mag: *Audit trail* · type: Warehouses Disabled, actor: jane@acme.com, since 2026-11-18 · ' +
        'page 1 · 2 events, newest first',
    );
    expect(sectionTexts(page)[0]).toBe(
      `*Warehouses Disabled* · ${DATE_TOKEN} · \`evt_01\`\n` +
        'Actor: Jane Doe (jane@acme.com) · `usr_1` · user\n' +
        'Resource: warehouse · Prod Snowflake · `wh_1`\n' +
        '• *enabled*: `true` → `false`',
    );
    expect(sectionTexts(page)).toHaveLength(2);
    expect(page.text).toBe(
      'Audit trail, page 1: 2 events matching type: Warehouses Disabled, actor: jane@acme.com, since 2026-11-18',
    );
  });

  it('says no events match, in blocks and fallback text, when the page is empty', () => {
    const page = buildEventsPage({ events: [], nextCursor: null, filters, limit: 20, pageNumber: 1 });

    expect(page.text).toBe('No events match type: Warehouses Disabled, actor: jane@acme.com, since 2026-11-18.');
    expect(sectionTexts(page)).toEqual([expect.stringMatching(/^No events match these filters\./)]);
    expect(nextButton(page)).toBeUndefined();
  });

  it('says so when nothing at all is stored yet', () => {
    expect(buildEventsPage({ events: [], nextCursor: null, filters: {}, limit: 20, pageNumber: 1 }).text).toBe(
      'No events match in the audit trail.',
    );
  });

  it('escapes hostile producer text so it pings nobody and links nowhere', () => {
    const hostile = event({
      type: 'Source Modified <!everyone>',
      actor: { type: 'token', id: '<@U999>', name: '<https://evil.example|click me>', email: 'a&b@x.io' },
      resource: { type: '<!here>', id: 'src_1', name: '<!channel> & <@U123>\n> quoted' },
      changes: { before: { '<#C1>': '<!subteam^S1>' }, after: { '<#C1>': '&' } },
    });

    const page = buildEventsPage({
      events: [hostile],
      nextCursor: cursor,
      filters: { actor: '<!channel>' },
      limit: 20,
      pageNumber: 1,
    });

    // The only markup left is the date token built from the parsed timestamp.
    expect(controlSequences(page)).toEqual([DATE_TOKEN]);
    const everything = JSON.stringify(page);
    expect(everything).toContain('&lt;!channel&gt; &amp; &lt;@U123&gt; &gt; quoted');
    expect(everything).toContain('&lt;https://evil.example|click me&gt;');
    expect(everything).toContain('a&amp;b@x.io');
    expect(everything).toContain('actor: &lt;!channel&gt;');
    expect(page.text).toContain('&lt;!channel&gt;');
  });

  it('keeps 20 events with 30 KB of metadata and changes each within 50 blocks and every text limit', () => {
    const bulky = 'm'.repeat(30 * 1024);
    const events = Array.from({ length: 20 }, (_, i) =>
      event({
        id: `evt_${i}_${bulky.slice(0, 200)}`,
        type: `Type ${bulky}`,
        actor: { type: 'user', id: `usr_${bulky}`, name: bulky, email: `${bulky}@acme.com` },
        resource: { type: bulky, id: bulky, name: `<${bulky}>` },
        changes: {
          before: Object.fromEntries(Array.from({ length: 100 }, (_, k) => [`field_${k}`, bulky])),
          after: { settings: { nested: bulky } },
        },
        metadata: { blob: bulky },
      }),
    );
    const longFilters: EventFilters = { ...filters, actor: 'a'.repeat(256), resourceType: 'r'.repeat(256) };

    const page = buildEventsPage({ events, nextCursor: cursor, filters: longFilters, limit: 20, pageNumber: 3 });

    expect(page.blocks.length).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.blocksPerMessage);
    expect(sectionTexts(page)).toHaveLength(20);
    for (const { text, limit } of textsWithLimits(page)) {
      expect(text.length).toBeLessThanOrEqual(limit);
      expect(text.isWellFormed()).toBe(true);
    }
    expect(page.text.length).toBeLessThanOrEqual(3000);
    expect(JSON.stringify(page).length).toBeLessThan(40_000);
    // Every event still shows its time and a note of the changes left out.
    for (const text of sectionTexts(page)) {
      expect(text).toContain(DATE_TOKEN);
      expect(text).toMatch(/…and \d+ more changed/);
    }
  });

  it('fits a page of 100 events in under 50 blocks by sharing sections, showing every event', () => {
    const events = Array.from({ length: 100 }, (_, i) =>
      event({
        id: `evt_${String(i).padStart(3, '0')}`,
        resource: { type: 'warehouse', id: 'wh_1', name: 'n'.repeat(5000) },
      }),
    );

    const page = buildEventsPage({ events, nextCursor: cursor, filters: {}, limit: 100, pageNumber: 1 });

    expect(page.blocks.length).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.blocksPerMessage);
    const all = sectionTexts(page).join('\n');
    for (const e of events) expect(all).toContain(`\`${e.id}\``);
    for (const { text, limit } of textsWithLimits(page)) expect(text.length).toBeLessThanOrEqual(limit);
  });

  it('adds a Next button carrying the cursor, filters, limit and the next page number', () => {
    const page = buildEventsPage({ events: [event()], nextCursor: cursor, filters, limit: 20, pageNumber: 2 });

    const button = nextButton(page)!;
    expect(button.text.text).toBe('Next');
    expect(decodeNextPageValue(button.value)).toEqual({ cursor, filters, limit: 20, pageNumber: 3 });
  });

  it('has no Next button on the last page, and says there is no more', () => {
    const page = buildEventsPage({ events: [event()], nextCursor: null, filters, limit: 20, pageNumber: 4 });

    expect(nextButton(page)).toBeUndefined();
    expect(JSON.stringify(page.blocks)).toContain('No more events match.');
  });

  it('explains, instead of a broken button, when filters are too long to carry to the next page', () => {
    const random = (n: number) => randomBytes(n).toString('base64url').slice(0, n);
    const huge: EventFilters = { types: Array.from({ length: 50 }, () => random(256)) };

    const page = buildEventsPage({ events: [event()], nextCursor: cursor, filters: huge, limit: 20, pageNumber: 1 });

    expect(nextButton(page)).toBeUndefined();
    expect(JSON.stringify(page.blocks)).toContain('too long to page through here');
    for (const { text, limit } of textsWithLimits(page)) expect(text.length).toBeLessThanOrEqual(limit);
  });
});

describe('encodeNextPageValue and decodeNextPageValue', () => {
  const every: NextPageValue = {
    cursor,
    filters: {
      types: ['Warehouses Disabled', 'My "quoted" type'],
      category: 'Warehouses',
      actor: 'jane@acme.com',
      actorType: 'user',
      resourceType: 'warehouse',
      resourceId: 'wh_1',
      since: new Date('2026-11-18T10:23:45.678Z'),
      until: new Date('2026-11-25T00:00:00.000Z'),
    },
    limit: 100,
    pageNumber: 2,
  };

  it('round-trips every filter, dates included', () => {
    const encoded = encodeNextPageValue(every)!;

    expect(encoded.length).toBeLessThan(BLOCK_KIT_LIMITS.buttonValue);
    expect(decodeNextPageValue(encoded)).toEqual(every);
  });

  it('writes dates as ISO times', () => {
    expect(encodeNextPageValue(every)).toContain('"2026-11-18T10:23:45.678Z"');
  });

  it('stays under 2000 characters and round-trips for long filters', () => {
    const long: NextPageValue = {
      cursor,
      filters: {
        types: EVENT_TYPES.slice(0, 50),
        category: 'Access Management',
        actor: `${'jane.doe.from.the.data.platform.team'.repeat(6)}@acme.com`,
        resourceType: 'destination-filter',
        resourceId: `df_${'0123456789abcdef'.repeat(15)}`,
        since: new Date('2026-01-01T00:00:00.000Z'),
        until: new Date('2026-11-25T10:00:00.000Z'),
      },
      limit: 100,
      pageNumber: 12,
    };

    const encoded = encodeNextPageValue(long)!;

    expect(encoded).toBeDefined();
    expect(encoded.length).toBeLessThan(BLOCK_KIT_LIMITS.buttonValue);
    expect(decodeNextPageValue(encoded)).toEqual(long);
  });

  it('gives up, rather than exceed 2000 characters, when the filters cannot be made to fit', () => {
    const types = Array.from({ length: 50 }, () => randomBytes(192).toString('base64url'));
    expect(encodeNextPageValue({ cursor, filters: { types }, limit: 20, pageNumber: 2 })).toBeUndefined();
  });

  it.each([
    ['nothing', undefined],
    ['an empty string', ''],
    ['text that is not JSON', 'next please'],
    ['a JSON value of the wrong shape', '{"c":1}'],
    ['a cursor this service did not make', JSON.stringify({ c: 'nope', f: {}, l: 20, p: 2 })],
    ['a relative time, which would drift between pages', JSON.stringify({ c: cursor, f: { s: '7d' }, l: 20, p: 2 })],
    ['a limit over 100', JSON.stringify({ c: cursor, f: {}, l: 500, p: 2 })],
    ['a page number of zero', JSON.stringify({ c: cursor, f: {}, l: 20, p: 0 })],
    ['an unknown actor type', JSON.stringify({ c: cursor, f: { at: 'robot' }, l: 20, p: 2 })],
    ['an unknown category', JSON.stringify({ c: cursor, f: { c: 'Nope' }, l: 20, p: 2 })],
    ['an unknown field', JSON.stringify({ c: cursor, f: { x: 1 }, l: 20, p: 2 })],
    ['packed text that does not inflate', 'z:AAAA'],
  ])('refuses %s', (_what, value) => {
    expect(decodeNextPageValue(value)).toBeUndefined();
  });
});
