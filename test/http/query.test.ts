import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { getEvents, postEvents, startTestService, type TestService } from '../helpers/service.ts';

let database: TestDatabase;
let app: TestService;
let token: string;
let otherToken: string;

type Ev = { id: string; type: string; timestamp: string; actor: { id: string } };

const base = Date.parse('2026-11-20T00:00:00.000Z');
const at = (minutes: number) => new Date(base + minutes * 60_000).toISOString();

beforeAll(async () => {
  database = await createTestDatabase();
  app = await startTestService(database.url, { ROLES: 'api' });
  token = await app.token('acme');
  otherToken = await app.token('globex');
  const events = [
    {
      id: 'e1',
      type: 'Warehouses Disabled',
      timestamp: at(1),
      actor: { type: 'user', id: 'usr_1', email: 'jane@acme.com' },
      resource: { type: 'warehouse', id: 'wh_1' },
    },
    {
      id: 'e2',
      type: 'Source Deleted',
      timestamp: at(2),
      actor: { type: 'token', id: 'tok_9' },
      resource: { type: 'source', id: 'src_1' },
    },
    {
      id: 'e3',
      type: 'Source Disabled',
      timestamp: at(3),
      actor: { type: 'user', id: 'usr_2', email: 'bob@acme.com' },
      resource: { type: 'source', id: 'src_1' },
    },
    {
      id: 'e4',
      type: 'User Removed',
      timestamp: at(4),
      actor: { type: 'system', id: 'sys' },
      resource: { type: 'user', id: 'usr_3' },
    },
    // Same timestamp as e4: the seq breaks the tie, so paging stays exact.
    {
      id: 'e5',
      type: 'Warehouses Enabled',
      timestamp: at(4),
      actor: { type: 'user', id: 'usr_1', email: 'jane@acme.com' },
      resource: { type: 'warehouse', id: 'wh_1' },
    },
  ];
  expect((await postEvents(app.url, token, { events })).status).toBe(201);
  expect((await postEvents(app.url, otherToken, { events: [{ ...events[0], id: 'g1' }] })).status).toBe(201);
});

afterAll(async () => {
  await app?.stop();
  await database?.drop();
});

async function ids(query: string, bearer = token): Promise<string[]> {
  const response = await getEvents(app.url, bearer, query);
  expect(response.status).toBe(200);
  return ((await response.json()).events as Ev[]).map((e) => e.id);
}

describe('GET /v1/events', () => {
  it('lists newest first, breaking timestamp ties by arrival', async () => {
    expect(await ids('')).toEqual(['e5', 'e4', 'e3', 'e2', 'e1']);
  });

  it('applies every filter of the SPEC', async () => {
    expect(await ids('?type=Source%20Deleted&type=Source%20Disabled')).toEqual(['e3', 'e2']);
    expect(await ids('?category=Warehouses')).toEqual(['e5', 'e1']);
    expect(await ids('?actor=usr_1')).toEqual(['e5', 'e1']);
    expect(await ids('?actor=bob%40acme.com')).toEqual(['e3']);
    expect(await ids('?actorType=token')).toEqual(['e2']);
    expect(await ids('?resourceType=source')).toEqual(['e3', 'e2']);
    expect(await ids('?resourceId=wh_1')).toEqual(['e5', 'e1']);
    expect(await ids(`?since=${at(2)}&until=${at(4)}`)).toEqual(['e3', 'e2']);
    expect(await ids('?since=2026-11-20&until=2026-11-21')).toEqual(['e5', 'e4', 'e3', 'e2', 'e1']);
    expect(await ids('?since=1d')).toEqual([]);
    expect(await ids('?resourceType=source&actorType=user')).toEqual(['e3']);
  });

  it('never shows one workspace the events of another', async () => {
    expect(await ids('', otherToken)).toEqual(['g1']);
    expect(await ids('?resourceId=wh_1', otherToken)).toEqual(['g1']);
  });

  it('names the bad parameter in a 400', async () => {
    const cases: [string, RegExp][] = [
      ['?limit=5000', /limit: must be a whole number from 1 to 1000/],
      ['?since=last%20week', /since: "last week" is not an ISO date or time/],
      ['?category=Nope', /category: must be one of/],
      ['?actorType=robot', /actorType: must be one of user, token, system/],
      ['?cursor=garbage', /invalid cursor/],
      ['?colour=red', /colour/],
      [`?since=${at(5)}&until=${at(1)}`, /since must be earlier than until/],
    ];
    for (const [query, message] of cases) {
      const response = await getEvents(app.url, token, query);
      expect(response.status, query).toBe(400);
      expect((await response.json()).error, query).toMatch(message);
    }
  });

  it('pages with a cursor that never skips or repeats a row while new events arrive', async () => {
    const ws = await app.token('paging');
    const initial = Array.from({ length: 250 }, (_, i) => ({
      id: `p${i}`,
      type: 'Source Modified',
      // Many share a timestamp, so the seq tie-break is exercised.
      timestamp: new Date(base + Math.floor(i / 7) * 1000).toISOString(),
      actor: { type: 'user', id: 'u' },
      resource: { type: 'source', id: 's' },
    }));
    expect((await postEvents(app.url, ws, { events: initial })).status).toBe(201);

    const seen: string[] = [];
    let cursor: string | null = null;
    let inserted = 0;
    do {
      const response = await getEvents(app.url, ws, `?limit=30${cursor ? `&cursor=${cursor}` : ''}`);
      const body = (await response.json()) as { events: Ev[]; nextCursor: string | null };
      seen.push(...body.events.map((e) => e.id));
      cursor = body.nextCursor;
      // New events land between pages, newer and older than the cursor alike, concurrently with paging.
      await Promise.all([
        postEvents(app.url, ws, {
          events: [{ ...initial[0]!, id: `new${inserted++}`, timestamp: new Date().toISOString() }],
        }),
        postEvents(app.url, ws, {
          events: [{ ...initial[0]!, id: `new${inserted++}`, timestamp: new Date(base + 3_600_000).toISOString() }],
        }),
      ]);
    } while (cursor);

    expect(new Set(seen).size).toBe(seen.length);
    for (const event of initial) expect(seen).toContain(event.id);
  });
});

const forgedCursor = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Inputs the review found answered with 500 (or, for the CSV, 200 and a dropped connection): [query, parameter]. */
const badQueries: [string, string][] = [
  ['?actor=a%00b', 'actor'],
  ['?type=Source%20Deleted&type=x%00', 'type'],
  ['?resourceId=%00', 'resourceId'],
  ['?resourceType=source%00', 'resourceType'],
  ['?category=%00', 'category'],
  ['?actor=%FF', 'actor'],
  ['?since=0000-01-01', 'since'],
  ['?since=0050-01-01T00:00:00Z', 'since'],
  ['?until=1969-12-31', 'until'],
  ['?since=100000000d', 'since'],
  ['?since=2026-02-30', 'since'],
  ['?until=2026-11-01T24:00', 'until'],
  ['?until=2026-11-01T10:60:00Z', 'until'],
  ['?until=9999-12-31T23:00:00-05:00', 'until'],
  ['?since=2026-11-02&until=2026-11-01', 'since'],
];

const badCursors: [string, unknown][] = [
  ['year 0000', ['0000-01-01T00:00:00.000Z', 5]],
  ['year 275760', ['+275760-09-13T00:00:00.000Z', 5]],
  ['an impossible day', ['2026-02-30T00:00:00.000Z', 5]],
  ['a date JavaScript reads loosely', ['Mon, 30 Feb 2026 00:00:00 GMT', 5]],
  ['a NUL', ['2026-11-20T00:00:00.000Z\u0000', 5]],
  ['a negative seq', ['2026-11-20T00:00:00.000Z', -1]],
  ['a fractional seq', ['2026-11-20T00:00:00.000Z', 1.5]],
  ['an object', { timestamp: '2026-11-20T00:00:00.000Z', seq: 1 }],
];

describe('bad query input', () => {
  it('answers 400 naming the parameter, never 500', async () => {
    for (const [query, parameter] of badQueries) {
      const response = await getEvents(app.url, token, query);
      expect(response.status, query).toBe(400);
      const body = await response.json();
      expect(
        body.details?.map((d: { path: string }) => d.path.split('.')[0]),
        query,
      ).toContain(parameter);
    }
  });

  it('refuses forged cursors, even ones JavaScript would parse', async () => {
    for (const [what, value] of badCursors) {
      const response = await getEvents(app.url, token, `?cursor=${forgedCursor(value)}`);
      expect(response.status, what).toBe(400);
      expect(await response.json(), what).toMatchObject({ error: 'invalid cursor', details: [{ path: 'cursor' }] });
    }
  });

  it('accepts the cursor it made and dates at the edges of the range', async () => {
    const first = await (await getEvents(app.url, token, '?limit=2')).json();
    expect((await getEvents(app.url, token, `?limit=2&cursor=${first.nextCursor}`)).status).toBe(200);
    expect(await ids('?since=1970-01-01&until=9999-12-31T23:59:59.999Z')).toEqual(['e5', 'e4', 'e3', 'e2', 'e1']);
    expect(await ids('?since=2024-02-29&until=2026-11-20T00:01:00%2B00:00')).toEqual([]);
    expect(await ids('?since=2026-11-20T05:31:30%2B05:30')).toEqual(['e5', 'e4', 'e3', 'e2']);
  });

  it('makes the CSV export answer every bad query with a JSON 400 before sending any row', async () => {
    for (const [query, parameter] of [...badQueries, ['?since=1d&cursor=x', 'cursor'] as [string, string]]) {
      const headers = { authorization: `Bearer ${token}` };
      const response = await fetch(`${app.url}/v1/events.csv${query}`, { headers });
      expect(response.status, query).toBe(400);
      expect(response.headers.get('content-type'), query).toMatch(/^application\/json/);
      const body = await response.json();
      expect(
        body.details?.map((d: { path: string }) => d.path.split('.')[0]),
        query,
      ).toContain(parameter);
    }
  });
});

describe('GET /v1/events.csv', () => {
  it('streams every match with the SPEC columns, JSON cells, and neutralised formulas', async () => {
    const ws = await app.token('csv');
    const hostile = {
      id: 'csv1',
      type: 'Source Modified',
      timestamp: at(10),
      actor: { type: 'user', id: '=HYPERLINK("http://evil")', name: 'Doe, "Jane"\nsecond line', email: '@evil' },
      resource: { type: 'source', id: '+1', name: '-2' },
      changes: { before: { name: 'a,b' }, after: { name: '"quoted"' } },
      context: { ip: '203.0.113.7' },
      metadata: { tab: '\tstart' },
    };
    const plain = Array.from({ length: 1200 }, (_, i) => ({
      id: `c${i}`,
      type: 'Source Modified',
      timestamp: at(i % 9),
      actor: { type: 'system', id: 'sys' },
      resource: { type: 'source', id: `s${i}` },
    }));
    expect((await postEvents(app.url, ws, { events: [hostile, ...plain.slice(0, 600)] })).status).toBe(201);
    expect((await postEvents(app.url, ws, { events: plain.slice(600) })).status).toBe(201);

    const response = await fetch(`${app.url}/v1/events.csv`, { headers: { authorization: `Bearer ${ws}` } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    const rows = parse(await response.text(), { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0]!)).toEqual([
      'id',
      'timestamp',
      'type',
      'category',
      'actor_type',
      'actor_id',
      'actor_name',
      'actor_email',
      'resource_type',
      'resource_id',
      'resource_name',
      'changes',
      'context',
      'metadata',
    ]);
    expect(rows).toHaveLength(1201);
    const row = rows.find((r) => r.id === 'csv1')!;
    expect(row).toMatchObject({
      timestamp: at(10),
      category: 'Source',
      actor_id: `'=HYPERLINK("http://evil")`,
      actor_name: 'Doe, "Jane"\nsecond line',
      actor_email: `'@evil`,
      resource_id: `'+1`,
      resource_name: `'-2`,
    });
    expect(JSON.parse(row.changes!)).toEqual(hostile.changes);
    expect(JSON.parse(row.context!)).toEqual(hostile.context);
    expect(JSON.parse(row.metadata!)).toEqual(hostile.metadata);
    expect(rows[0]!.id).toBe('csv1'); // newest first
  });

  it('applies the same filters and refuses paging parameters', async () => {
    const response = await fetch(`${app.url}/v1/events.csv?resourceId=src_1`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const rows = parse(await response.text(), { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => r.id)).toEqual(['e3', 'e2']);
    const paged = await fetch(`${app.url}/v1/events.csv?limit=5`, { headers: { authorization: `Bearer ${token}` } });
    expect(paged.status).toBe(400);
  });
});
