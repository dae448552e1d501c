import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { createDb, migrateDatabase } from '../../src/store/db.ts';
import { type OwnPostgres, ownPostgres } from '../helpers/postgres-server.ts';
import { getEvents, postEvents, sampleEvent, startTestService, type TestService } from '../helpers/service.ts';

// SPEC section 4: Postgres unreachable → 503 with Retry-After within 5 seconds, not a hang or a 500.
const SPEC_LIMIT_MS = 5_000;

let pg: OwnPostgres;
let app: TestService;
let token: string;

beforeAll(async () => {
  pg = await ownPostgres();
  await pg.start();
  await migrateDatabase(pg.url, createLogger('silent'));
  app = await startTestService(pg.url, { ROLES: 'api' });
  token = await app.token('acme');
  expect((await postEvents(app.url, token, sampleEvent())).status).toBe(201);
});

beforeEach(async () => {
  await pg.start(); // in case an earlier test failed while it was down
});

afterAll(async () => {
  pg?.resume();
  await app?.stop();
  await pg?.cleanup();
});

/** Sends the request and answers its status, Retry-After, body and how long it took. */
async function timed(request: () => Promise<Response>) {
  const started = Date.now();
  const response = await request();
  const text = await response.text();
  return { status: response.status, retryAfter: response.headers.get('retry-after'), text, ms: Date.now() - started };
}

const csv = (query = '') =>
  fetch(`${app.url}/v1/events.csv${query}`, { headers: { authorization: `Bearer ${token}` } });
const readyz = () => fetch(`${app.url}/readyz`);
// Segment's Webhooks destination: one audit track call, the token as a Bearer token.
const segmentPush = () =>
  fetch(`${app.url}/v1/segment`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      type: 'track',
      event: 'Source Disabled',
      messageId: 'm-1',
      timestamp: new Date().toISOString(),
      properties: { resource_id: 'src_1', resource_type: 'source', user_id: 'usr_1' },
    }),
  });

async function expectUnavailable(request: () => Promise<Response>, what: string) {
  const answer = await timed(request);
  expect(answer.status, `${what}: ${answer.text}`).toBe(503);
  expect(answer.retryAfter, what).toMatch(/^\d+$/);
  expect(JSON.parse(answer.text).error, what).toMatch(/database is unavailable/);
  expect(answer.text, what).not.toMatch(/ECONNREFUSED|at .*\.ts/);
  expect(answer.ms, what).toBeLessThan(SPEC_LIMIT_MS);
}

async function expectRecovered() {
  const stored = async () => (await postEvents(app.url, token, sampleEvent())).status;
  await expect.poll(stored, { timeout: 15_000 }).toBe(201);
  expect((await getEvents(app.url, token)).status).toBe(200);
  expect((await readyz()).status).toBe(200);
}

describe('while Postgres is down', () => {
  it('answers 503 with Retry-After at once when Postgres is stopped, and recovers when it is back', async () => {
    await pg.kill();
    await expectUnavailable(() => postEvents(app.url, token, sampleEvent()), 'POST /v1/events');
    await expectUnavailable(() => getEvents(app.url, token), 'GET /v1/events');
    await expectUnavailable(() => csv(), 'GET /v1/events.csv');
    await expectUnavailable(segmentPush, 'POST /v1/segment');
    const ready = await timed(readyz);
    expect(ready.status).toBe(503);
    expect(JSON.parse(ready.text)).toMatchObject({ error: expect.stringMatching(/postgres/), redis: 'ok' });
    expect(ready.ms).toBeLessThan(SPEC_LIMIT_MS);

    await pg.start();
    await expectRecovered();
  });

  it('answers 503 within 5 seconds when Postgres hangs (connections open, nothing answers)', async () => {
    await pg.pause();
    try {
      const answers = await Promise.all([
        expectUnavailable(() => postEvents(app.url, token, sampleEvent()), 'POST /v1/events'),
        expectUnavailable(() => getEvents(app.url, token), 'GET /v1/events'),
        expectUnavailable(() => csv(), 'GET /v1/events.csv'),
        expectUnavailable(segmentPush, 'POST /v1/segment'),
        timed(readyz),
      ]);
      const ready = answers[4]!;
      expect(ready.status).toBe(503);
      expect(JSON.parse(ready.text).error).toMatch(/postgres/);
      expect(ready.ms).toBeLessThan(SPEC_LIMIT_MS);
    } finally {
      pg.resume();
    }
    await expectRecovered();
  });

  it('answers the CSV export with a JSON 503 before any byte when its query cannot run', async () => {
    const locker = createDb(pg.url, { max: 1 });
    let release!: () => void;
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holding = locker.sql.begin(async (tx) => {
      await tx`lock table events in access exclusive mode`;
      locked();
      await new Promise<void>((resolve) => (release = resolve));
    });
    try {
      await isLocked;
      const answer = await timed(() => csv('?since=7d'));
      expect(answer.status, answer.text).toBe(503);
      expect(answer.retryAfter).toMatch(/^\d+$/);
      expect(JSON.parse(answer.text).error).toMatch(/database is unavailable/);
    } finally {
      release();
      await holding;
      await locker.close();
    }
    const after = await csv('?since=7d');
    expect(after.status).toBe(200);
    expect((await after.text()).split('\n')[0]).toMatch(/^id,timestamp,type/);
  });
});
