import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { buildHelpBlocks } from '../../src/slack/blocks/help.ts';
import { describeFilters } from '../../src/slack/command/describe.ts';
import { FILTER_KEYS } from '../../src/slack/command/filters.ts';
import { parseCommandText } from '../../src/slack/command/parse.ts';
import { checkRuleId } from '../../src/slack/command/silence.ts';

const NOW = new Date('2026-11-25T10:00:00.000Z');
const DAY = 86_400_000;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
});

afterEach(() => {
  vi.useRealTimers();
});

function errorOf(text: string): string {
  const parsed = parseCommandText(text);
  if (parsed.kind !== 'error') throw new Error(`expected an error for ${text}, got ${JSON.stringify(parsed)}`);
  return parsed.message;
}

describe('parseCommandText: subcommands', () => {
  it.each(['', '   ', 'help', 'HELP', 'help export'])('answers %j with help', (text) => {
    expect(parseCommandText(text)).toEqual({ kind: 'help' });
  });

  it('reads filters without a subcommand as a query with a default page of 20', () => {
    expect(parseCommandText('actor:jane@acme.com')).toEqual({
      kind: 'query',
      filters: { actor: 'jane@acme.com' },
      limit: 20,
    });
  });

  it('reads every filter key of the SPEC example into its EventFilters field', () => {
    const parsed = parseCommandText(
      'type:"Warehouses Disabled" category:Warehouses actor:jane@acme.com actor-type:token ' +
        'resource:wh_1 resource-type:warehouse since:7d until:2026-12-01 limit:50',
    );

    expect(parsed).toEqual({
      kind: 'query',
      filters: {
        types: ['Warehouses Disabled'],
        category: 'Warehouses',
        actor: 'jane@acme.com',
        actorType: 'token',
        resourceId: 'wh_1',
        resourceType: 'warehouse',
        since: new Date(NOW.getTime() - 7 * DAY),
        until: new Date('2026-12-01T00:00:00.000Z'),
      },
      limit: 50,
    });
  });

  it('reads export with its filters and no page size', () => {
    expect(parseCommandText('export category:source since:30d')).toEqual({
      kind: 'export',
      filters: { category: 'Source', since: new Date(NOW.getTime() - 30 * DAY) },
    });
    expect(parseCommandText('export')).toEqual({ kind: 'export', filters: {} });
  });

  it('reads import status, in any case', () => {
    expect(parseCommandText('import status')).toEqual({ kind: 'import', action: 'status' });
    expect(parseCommandText('Import STATUS')).toEqual({ kind: 'import', action: 'status' });
  });

  it('explains import without status, with another word, or with extra words', () => {
    expect(errorOf('import')).toBe('import takes status: /audit import status');
    expect(errorOf('import now')).toBe('import takes status (got "now"): /audit import status');
    expect(errorOf('import status please')).toBe(
      'import status takes nothing more (got "please"): /audit import status',
    );
  });

  it('suggests import for a misspelt import', () => {
    expect(errorOf('improt status')).toContain('(or did you mean /audit import?)');
  });

  it('reads forward status and forward off', () => {
    expect(parseCommandText('forward status')).toEqual({ kind: 'forward', action: 'status' });
    expect(parseCommandText('Forward OFF')).toEqual({ kind: 'forward', action: 'off' });
  });

  it('reads forward on with a write key, a name of several words and --since', () => {
    expect(parseCommandText('forward on wk_3xAmpl3 Prod audit source --since 7d')).toEqual({
      kind: 'forward',
      action: 'on',
      writeKey: 'wk_3xAmpl3',
      name: 'Prod audit source',
      since: new Date(NOW.getTime() - 7 * DAY),
    });
  });

  it('reads forward on with only a write key, and --since=… or a phone’s em dash in place of --', () => {
    const onlyKey = { kind: 'forward', action: 'on', writeKey: 'wk_1Ab2Cd3' };
    expect(parseCommandText('forward on wk_1Ab2Cd3')).toEqual(onlyKey);
    expect(parseCommandText('forward on wk_1Ab2Cd3 --since=2026-11-01')).toMatchObject({
      since: new Date('2026-11-01T00:00:00.000Z'),
    });
    expect(parseCommandText('forward on wk_1Ab2Cd3 —since 12h')).toMatchObject({
      since: new Date(NOW.getTime() - 12 * 3_600_000),
    });
  });
});

describe('parseCommandText: values and quoting', () => {
  it('takes a double-quoted value with spaces as one value', () => {
    expect(parseCommandText('type:"Warehouses Disabled"')).toMatchObject({
      filters: { types: ['Warehouses Disabled'] },
    });
  });

  it('treats the smart quotes mobile clients send as quotes', () => {
    expect(parseCommandText('type:“Warehouses Disabled” type:‘Source Deleted’ actor:”Jane Doe”')).toMatchObject({
      filters: { types: ['Warehouses Disabled', 'Source Deleted'], actor: 'Jane Doe' },
    });
  });

  it('unescapes \\" inside a quoted value', () => {
    expect(parseCommandText('resource-type:"say \\"hi\\" now"')).toMatchObject({
      filters: { resourceType: 'say "hi" now' },
    });
  });

  it('keeps an apostrophe inside a bare value as a letter', () => {
    expect(parseCommandText('actor:o’brien@acme.com')).toMatchObject({ filters: { actor: 'o’brien@acme.com' } });
    expect(parseCommandText("actor:o'brien@acme.com")).toMatchObject({ filters: { actor: "o'brien@acme.com" } });
  });

  it('matches any of several types when type: repeats', () => {
    expect(parseCommandText('type:"Source Disabled" type:"Source Deleted" type:Custom')).toMatchObject({
      filters: { types: ['Source Disabled', 'Source Deleted', 'Custom'] },
    });
  });

  it('corrects the case of catalog types and categories, and keeps a type outside the catalog as typed', () => {
    expect(
      parseCommandText('type:"warehouses disabled" type:"My Own Event" category:"access management" actor-type:USER'),
    ).toMatchObject({
      filters: { types: ['Warehouses Disabled', 'My Own Event'], category: 'Access Management', actorType: 'user' },
    });
  });

  it('reads filter keys in any case', () => {
    expect(parseCommandText('Actor:jane Resource-Type:warehouse')).toMatchObject({
      filters: { actor: 'jane', resourceType: 'warehouse' },
    });
  });

  it('reads relative times back from now and ISO dates and times as UTC instants', () => {
    expect(parseCommandText('since:12h until:30m')).toMatchObject({
      filters: { since: new Date(NOW.getTime() - 12 * 3_600_000), until: new Date(NOW.getTime() - 30 * 60_000) },
    });
    expect(parseCommandText('since:2026-11-01 until:2026-11-02T10:30:00+02:00')).toMatchObject({
      filters: { since: new Date('2026-11-01T00:00:00.000Z'), until: new Date('2026-11-02T08:30:00.000Z') },
    });
  });

  it('undoes Slack’s escaping of &, < and > and its mailto: wrapping of emails', () => {
    expect(parseCommandText('resource:a&amp;b actor:<mailto:jane@acme.com|jane@acme.com>')).toMatchObject({
      filters: { resourceId: 'a&b', actor: 'jane@acme.com' },
    });
  });

  it('keeps colons after the first one in the value', () => {
    expect(parseCommandText('resource:urn:wh:1')).toMatchObject({ filters: { resourceId: 'urn:wh:1' } });
  });
});

describe('parseCommandText: errors name the token', () => {
  it('names an unknown filter and lists the known ones', () => {
    expect(errorOf('type:x colour:red')).toBe(
      'unknown filter "colour:red" — ' +
        'filters are type:, category:, actor:, actor-type:, resource:, resource-type:, since:, until:, limit:',
    );
  });

  it('suggests the filter a typo was meant to be', () => {
    expect(errorOf('actortype:user')).toMatch(/^unknown filter "actortype:user" — did you mean actor-type:\?/);
    expect(errorOf('sinse:7d')).toMatch(/did you mean since:\?/);
  });

  it('names a time it cannot read, as typed without its quotes, and says what a time looks like', () => {
    expect(errorOf('since:"last week"')).toBe(
      '"since:last week" is not a time: use an ISO date or time (2026-11-01, 2026-11-01T10:00:00Z) ' +
        'or a relative time (use a whole number followed by s, m, h or d, e.g. 30s, 10m, 12h, 7d)',
    );
    expect(errorOf('until:yesterday')).toMatch(/^"until:yesterday" is not a time: use /);
  });

  it('names an unterminated quote', () => {
    expect(errorOf('type:"Warehouses')).toBe('unterminated quote in: type:"Warehouses');
    expect(errorOf('since:7d type:“Warehouses Disabled')).toBe('unterminated quote in: type:“Warehouses Disabled');
  });

  it.each(['500', '0', '-1', '2.5', 'ten'])('refuses limit:%s with the value it got', (value) => {
    expect(errorOf(`limit:${value}`)).toBe(`limit must be a whole number from 1 to 100 (got "${value}")`);
  });

  it('refuses a since that is not earlier than until', () => {
    expect(errorOf('since:2026-11-02 until:2026-11-01')).toBe('since must be earlier than until');
    expect(errorOf('since:2026-11-01 until:2026-11-01')).toBe('since must be earlier than until');
  });

  it('names a bare word that is not key:value', () => {
    expect(errorOf('foo')).toBe('"foo" is not a filter: write key:value, e.g. type:"Warehouses Disabled"');
  });

  it('suggests quoting when a value with spaces was not quoted', () => {
    expect(errorOf('type:Warehouses Disabled')).toBe(
      '"Disabled" is not a filter: quote a value with spaces, e.g. type:"Warehouses Disabled"',
    );
  });

  it('suggests the subcommand a mistyped first word was meant to be', () => {
    expect(errorOf('exprot since:7d')).toBe(
      '"exprot" is not a filter: write key:value, e.g. type:"Warehouses Disabled" (or did you mean /audit export?)',
    );
  });

  it('names an unknown category and suggests the nearest one', () => {
    expect(errorOf('category:Warehouse')).toMatch(
      /^unknown category "category:Warehouse" — did you mean Warehouses\? Categories are Access Management, /,
    );
  });

  it('names an unknown actor type', () => {
    expect(errorOf('actor-type:bot')).toBe('unknown actor type "actor-type:bot" — use user, token or system');
  });

  it('names a filter without a value', () => {
    expect(errorOf('actor:')).toBe('"actor:" has no value: write actor:value, e.g. actor:jane@acme.com');
    expect(errorOf('type:""')).toMatch(/^"type:" has no value/);
  });

  it('names both tokens when a filter other than type: is given twice', () => {
    expect(errorOf('actor:a actor:b')).toBe('actor: is given twice ("actor:a" and "actor:b"); only type: may repeat');
  });

  it('names a value over the shared length limit, shortened', () => {
    const message = errorOf(`resource:${'x'.repeat(300)}`);
    expect(message).toMatch(/^"resource:x+…" is too long \(at most 256 characters\)$/);
    expect(message.length).toBeLessThan(200);
  });

  it('refuses limit: on an export, which has no pages', () => {
    expect(errorOf('export since:7d limit:5')).toBe('"limit:5" does not apply to export: it sends every match');
  });

  it('names a bad time in an export too', () => {
    expect(errorOf('export since:soon')).toMatch(/^"since:soon" is not a time/);
  });

  it('explains forward without an action, with an unknown one, or with extra words', () => {
    expect(errorOf('forward')).toMatch(/^forward needs status, on or off: \/audit forward status \| on <writeKey>/);
    expect(errorOf('forward enable')).toMatch(/^forward needs status, on or off \(got "enable"\)/);
    expect(errorOf('forward status now')).toMatch(/^forward status takes nothing more \(got "now"\)/);
  });

  it('asks forward on for a write key and names one that cannot be', () => {
    expect(errorOf('forward on')).toMatch(/^forward on needs the Segment source's write key/);
    expect(errorOf('forward on --since 7d')).toMatch(/^forward on needs the Segment source's write key/);
    // The rules (and words) of forwarding/settings.ts, never quoting what may be a real key mistyped.
    expect(errorOf('forward on "wk 1"')).toMatch(/^a write key has no spaces: \/audit forward status/);
    expect(errorOf('forward on wk$1Ab2Cd3')).toMatch(/^a write key holds only letters, digits, "\.", "-" and "_"/);
    expect(errorOf('forward on wk_1')).toMatch(/^that write key is too short \(4 characters\)/);
    for (const text of ['forward on "wk 1"', 'forward on wk$1Ab2Cd3', 'forward on wk_1']) {
      expect(errorOf(text)).not.toContain('wk');
    }
  });

  it('names a bad or missing --since and an unknown option of forward on', () => {
    expect(errorOf('forward on wk_1Ab2Cd3 --since lately')).toMatch(/^"--since lately" is not a time: use /);
    expect(errorOf('forward on wk_1Ab2Cd3 --since')).toBe('--since needs a time, e.g. --since 7d');
    expect(errorOf('forward on wk_1Ab2Cd3 --until 7d')).toBe(
      'unknown option "--until" — forward on takes --since, e.g. --since 7d',
    );
  });
});

describe('parseCommandText: silences', () => {
  it('reads silences, silence and unsilence', () => {
    expect(parseCommandText('silences')).toEqual({ kind: 'silences' });
    expect(parseCommandText('silence warehouse-disabled for:8h')).toEqual({
      kind: 'silence',
      ruleId: 'warehouse-disabled',
      duration: '8h',
      durationMs: 8 * 3_600_000,
    });
    expect(parseCommandText('SILENCE warehouse-disabled resource:"wh 1" for:30m')).toEqual({
      kind: 'silence',
      ruleId: 'warehouse-disabled',
      resourceId: 'wh 1',
      duration: '30m',
      durationMs: 30 * 60_000,
    });
    expect(parseCommandText('unsilence 12')).toEqual({ kind: 'unsilence', id: 12 });
    expect(parseCommandText('unsilence #12')).toEqual({ kind: 'unsilence', id: 12 });
  });

  it.each([
    ['silence', 'silence needs a rule id'],
    ['silence warehouse-disabled', 'silence needs for:<duration>'],
    ['silence warehouse-disabled for:8', '"for:8" is not a duration: use a whole number followed by s, m, h or d'],
    ['silence warehouse-disabled for:0h', '"for:0h" is not a duration'],
    ['silence warehouse-disabled for:91d', '"for:91d" is too long: a silence lasts at most 90d'],
    ['silence warehouse-disabled for:8h for:1h', 'for: is given twice'],
    ['silence warehouse-disabled resource: for:1h', 'resource: needs a resource id'],
    ['silence warehouse-disabled resorce:wh_1 for:1h', 'unknown option "resorce:wh_1" — did you mean resource:?'],
    ['silence a b for:1h', '"b" is not understood'],
    ['silences now', 'silences takes nothing more (got "now")'],
    ['unsilence', 'unsilence needs a silence id'],
    ['unsilence 0', '"0" is not a silence id'],
    ['unsilence 1 2', 'unsilence takes one silence id (got "2" too)'],
    ['unsilence id:1', '"id:1" is not a silence id'],
  ])('refuses %j: %s', (text, message) => {
    expect(errorOf(text)).toContain(message);
  });

  it('suggests the subcommand for a misspelt one', () => {
    expect(errorOf('unsilense 12')).toContain('did you mean /audit unsilence?');
  });

  it('checks a rule id against the rules in force, naming the nearest', () => {
    const ids = ['warehouse-disabled', 'source-deleted', 'mass-deletion'];
    expect(checkRuleId('source-deleted', ids)).toBeUndefined();
    expect(checkRuleId('source-delted', ids)).toBe('unknown rule id "source-delted" — did you mean source-deleted?');
    expect(checkRuleId('nothing-like-it', ids)).toBe(
      'unknown rule id "nothing-like-it" — rules are warehouse-disabled, source-deleted, mass-deletion',
    );
    expect(checkRuleId('x', [])).toBe('unknown rule id "x" — no rules are loaded');
  });
});

describe('describeFilters', () => {
  it('summarises filters in one line, dates alone at midnight and to the minute otherwise', () => {
    expect(
      describeFilters({
        types: ['Warehouses Disabled', 'Warehouses Deleted'],
        actor: 'jane@acme.com',
        actorType: 'user',
        resourceId: 'wh_1',
        since: new Date('2026-11-18T00:00:00.000Z'),
        until: new Date('2026-11-19T10:23:45.000Z'),
      }),
    ).toBe(
      'type: Warehouses Disabled or Warehouses Deleted, actor: jane@acme.com, actor type: user, resource: wh_1, ' +
        'since 2026-11-18, until 2026-11-19 10:23 UTC',
    );
  });

  it('is empty without filters', () => {
    expect(describeFilters({})).toBe('');
  });
});

describe('buildHelpBlocks', () => {
  it('shows usage with examples for queries, export, forward and every filter key', () => {
    const help = buildHelpBlocks();
    const all = JSON.stringify(help.blocks);

    expect(help.text).toContain('/audit');
    const examples = ['/audit type:\\"Warehouses Disabled\\" since:7d', '/audit export', '/audit forward status'];
    for (const example of [
      ...examples,
      '/audit forward off',
      '--since 7d',
      '/audit silences',
      '/audit unsilence',
      '/audit import status',
    ]) {
      expect(all).toContain(example);
    }
    for (const key of FILTER_KEYS) expect(all).toContain(`${key}:`);
    expect(help.blocks.length).toBeLessThanOrEqual(50);
  });

  it('escapes <writeKey> so Slack does not read it as a link', () => {
    const all = JSON.stringify(buildHelpBlocks().blocks);
    expect(all).toContain('&lt;writeKey&gt;');
    expect(all).not.toMatch(/<[^<>]*>/);
  });
});
