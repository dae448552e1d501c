import { parse } from 'csv-parse/sync';
import { sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chainHash, GENESIS_HASH } from '../../src/store/chain.ts';
import { createDb } from '../../src/store/db.ts';
import { verifyChain } from '../../src/store/verify.ts';
import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/database.ts';
import { getEvents, postEvents, sampleEvent, startTestService, type TestService } from '../helpers/service.ts';

let database: TestDatabase;
let app: TestService;

beforeAll(async () => {
  database = await createTestDatabase();
  // A server whose sessions default to a zone that was 44 min 30 s off UTC in 1970: what the service
  // reads back must not depend on the server's TimeZone setting.
  const admin = postgres(serverUrl(), { max: 1, onnotice: () => {} });
  await admin.unsafe(`alter database "${database.name}" set timezone to 'Africa/Monrovia'`);
  await admin.end();
  app = await startTestService(database.url, { ROLES: 'api' });
});

afterAll(async () => {
  await app?.stop();
  await database?.drop();
});

type Ev = { id: string; seq: number; timestamp: string; hash: string } & Record<string, unknown>;

async function allEvents(token: string, query = ''): Promise<Ev[]> {
  const seen: Ev[] = [];
  let cursor: string | null = null;
  for (let pages = 0; ; pages++) {
    expect(pages, 'paging must end').toBeLessThan(100);
    const response = await getEvents(app.url, token, `?limit=1${query}${cursor ? `&cursor=${cursor}` : ''}`);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { events: Ev[]; nextCursor: string | null };
    seen.push(...body.events);
    cursor = body.nextCursor;
    if (!cursor) return seen;
  }
}

async function csvTimestamps(token: string): Promise<Record<string, string>> {
  const response = await fetch(`${app.url}/v1/events.csv`, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  const rows = parse(await response.text(), { columns: true }) as { id: string; timestamp: string }[];
  return Object.fromEntries(rows.map((row) => [row.id, row.timestamp]));
}

describe('event timestamps', () => {
  it('reads every accepted timestamp back exactly as stored, through GET, the CSV, paging and verify', async () => {
    const token = await app.token('times');
    const inADay = new Date(Date.now() + 24 * 3_600_000 - 60_000).toISOString();
    const sent: [string, string, string][] = [
      // [id, as sent, as stored: UTC, millisecond precision]
      ['t_epoch', '1970-01-01T00:00:00.000Z', '1970-01-01T00:00:00.000Z'],
      ['t_epoch_offset', '1970-01-01T01:00:00.001+01:00', '1970-01-01T00:00:00.001Z'],
      ['t_1971', '1971-06-30T12:34:56.789Z', '1971-06-30T12:34:56.789Z'],
      ['t_offset', '2026-11-25T10:00:00+05:30', '2026-11-25T04:30:00.000Z'],
      ['t_negative_offset', '2026-11-25T23:30:00.5-02:00', '2026-11-26T01:30:00.500Z'],
      ['t_nanos', '2026-11-25T10:00:00.123456789Z', '2026-11-25T10:00:00.123Z'],
      ['t_leap_day', '2024-02-29T23:59:59.999Z', '2024-02-29T23:59:59.999Z'],
      ['t_tomorrow', inADay, inADay],
    ];
    const response = await postEvents(app.url, token, {
      events: sent.map(([id, timestamp]) => sampleEvent({ id, timestamp })),
    });
    expect(response.status).toBe(201);
    const expected = Object.fromEntries(sent.map(([id, , stored]) => [id, stored]));

    const listed = await allEvents(token);
    expect(Object.fromEntries(listed.map((event) => [event.id, event.timestamp]))).toEqual(expected);
    expect(await csvTimestamps(token)).toEqual(expected);
    // Filtering by the exact stored instant finds the event: the value compared in Postgres is the one shown.
    for (const [id, , stored] of sent) {
      const until = new Date(Date.parse(stored) + 1).toISOString();
      expect((await allEvents(token, `&since=${stored}&until=${until}`)).map((e) => e.id)).toEqual([id]);
    }

    // The chain re-computed from the API's own output matches, and so does verify.
    let prev = GENESIS_HASH;
    for (const { hash, ...event } of [...listed].sort((a, b) => a.seq - b.seq)) {
      const recomputed = chainHash(prev, event as Parameters<typeof chainHash>[1]);
      expect(recomputed, `event ${event.id}`).toBe(hash);
      prev = hash;
    }
    const cli = createDb(database.url, { max: 1 });
    try {
      expect(await verifyChain(cli.db, 'times')).toMatchObject({ ok: true, count: sent.length });
    } finally {
      await cli.close();
    }
  });

  it('refuses timestamps before 1970 or over 24 hours ahead with a 400 naming the field, storing nothing', async () => {
    const token = await app.token('bad-times');
    const cases = [
      '0000-01-01T00:00:00Z',
      '0001-01-01T00:00:00Z',
      '0050-06-15T12:00:00Z',
      '0099-12-31T23:59:59Z',
      '1969-12-31T23:59:59.999Z',
      '1970-01-01T00:59:59.999+01:00',
      '9999-12-31T23:59:59-23:59', // year 10000 in UTC
      '2026-02-30T00:00:00Z',
      new Date(Date.now() + 24 * 3_600_000 + 60_000).toISOString(),
    ];
    for (const timestamp of cases) {
      const response = await postEvents(app.url, token, { events: [sampleEvent(), sampleEvent({ timestamp })] });
      expect(response.status, timestamp).toBe(400);
      const body = await response.json();
      expect(body.details, timestamp).toEqual([{ index: 1, path: 'timestamp', message: expect.any(String) }]);
      expect(body.error, timestamp).toContain('events[1].timestamp');
    }
    const rows = await app.service.database.db.execute<{ n: number }>(
      sql`select count(*)::int as n from events where workspace_id = 'bad-times'`,
    );
    expect(rows[0]!.n).toBe(0);
  });

  it('says what the range is', async () => {
    const token = await app.token('bad-times');
    const response = await postEvents(app.url, token, sampleEvent({ timestamp: '1960-01-01T00:00:00Z' }));
    expect((await response.json()).details[0].message).toMatch(/1970-01-01.*24 hours/);
  });
});
