import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'drizzle-orm';
import { Queue } from 'bullmq';
import { createLogger } from '../../src/logger.ts';
import { OutboxRelay } from '../../src/outbox/relay.ts';
import { createQueues, createRedis } from '../../src/queue/connection.ts';
import { AUDIT_EVENTS_QUEUE, auditEventJobId } from '../../src/queue/names.ts';
import { appendEventsTx } from '../../src/store/append.ts';
import { outboxLag } from '../../src/store/cursors.ts';
import { createDb, type Database } from '../../src/store/db.ts';
import { createTestDatabase, deleteRedisPrefix, redisUrl, uniqueName, type TestDatabase } from '../helpers/database.ts';
import { ownRedis, type OwnRedis } from '../helpers/redis-server.ts';
import { postEvents, sampleEvent, startTestService } from '../helpers/service.ts';

let database: TestDatabase;
let store: Database;
const silent = createLogger('silent');

beforeAll(async () => {
  database = await createTestDatabase();
  store = createDb(database.url);
});

afterAll(async () => {
  await store?.close();
  await database?.drop();
});

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const started = Date.now();
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() - started > timeoutMs) throw new Error(`timed out; last value ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const batch = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => ({ ...sampleEvent(), id: `${prefix}:${i}` })) as never[];

describe('the outbox relay', () => {
  it('puts each stored event on the queue once, with the event id as job id, woken by the commit', async () => {
    const prefix = uniqueName('relay');
    const redis = createRedis(redisUrl(), 'producer');
    const queues = createQueues(redis, prefix);
    // A sweep interval of a minute: only the NOTIFY at commit can make this test pass in time.
    const relay = new OutboxRelay(store.db, store.sql, queues.auditEvents, silent, { sweepIntervalMs: 60_000 });
    await relay.start();
    try {
      await relay.drain();
      const started = Date.now();
      await appendEventsTx(store.db, 'ws-a', batch(5, 'a'));
      const waiting = await waitFor(() => queues.auditEvents.getWaiting(), (jobs) => jobs.length === 5, 2000);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(waiting.map((job) => job.id).sort()).toEqual([0, 1, 2, 3, 4].map((i) => auditEventJobId('ws-a', `a:${i}`)).sort());
      expect(waiting[0]!.data).toMatchObject({ workspaceId: 'ws-a', eventId: expect.stringMatching(/^a:/), seq: expect.any(Number) });

      // Re-enqueueing (a crash after Redis accepted the jobs, before the cursor moved) adds nothing.
      await store.db.execute(sql`update outbox_cursors set relayed_seq = 0 where workspace_id = 'ws-a'`);
      await relay.drain();
      expect(await queues.auditEvents.getJobCountByTypes('waiting')).toBe(5);
      expect(await outboxLag(store.db)).toBe(0);
    } finally {
      await relay.stop();
      await queues.close();
      redis.disconnect();
      await deleteRedisPrefix(prefix);
    }
  });

  it('relays each event exactly once when two relay replicas race', async () => {
    const prefix = uniqueName('relay2');
    const redisA = createRedis(redisUrl(), 'producer');
    const redisB = createRedis(redisUrl(), 'producer');
    const queuesA = createQueues(redisA, prefix);
    const queuesB = createQueues(redisB, prefix);
    const storeB = createDb(database.url);
    const relayA = new OutboxRelay(store.db, store.sql, queuesA.auditEvents, silent, { batchSize: 7 });
    const relayB = new OutboxRelay(storeB.db, storeB.sql, queuesB.auditEvents, silent, { batchSize: 7 });
    await Promise.all([relayA.start(), relayB.start()]);
    try {
      await Promise.all(Array.from({ length: 10 }, (_, i) => appendEventsTx(store.db, `race-${i % 3}`, batch(20, `r${i}`))));
      await waitFor(() => outboxLag(store.db), (lag) => lag === 0);
      const jobs = await queuesA.auditEvents.getWaiting(0, -1);
      expect(jobs.length).toBe(200);
      expect(new Set(jobs.map((j) => j.id)).size).toBe(200);
    } finally {
      await Promise.all([relayA.stop(), relayB.stop()]);
      await Promise.all([queuesA.close(), queuesB.close(), storeB.close()]);
      redisA.disconnect();
      redisB.disconnect();
      await deleteRedisPrefix(prefix);
    }
  });
});

describe('a Redis outage during ingest', () => {
  let redis: OwnRedis;

  beforeAll(async () => {
    redis = await ownRedis();
    await redis.start();
  });

  afterAll(async () => {
    await redis?.cleanup();
  });

  it('keeps answering 201, reports Redis in /readyz, and delivers every event exactly once when Redis returns', async () => {
    const app = await startTestService(database.url, { ROLES: 'api,relay', REDIS_URL: redis.url });
    const token = await app.token('outage');
    const sent: string[] = [];
    const post = async (label: string) => {
      const events = batch(10, label);
      const response = await postEvents(app.url, token, { events });
      expect(response.status).toBe(201);
      sent.push(...events.map((e: { id: string }) => e.id));
    };
    try {
      // Producers keep posting throughout: Redis dies and comes back underneath a running ingest loop.
      let posting = true;
      let round = 0;
      const producer = (async () => {
        while (posting) await post(`round${round++}`);
      })();
      await waitFor(async () => round, (n) => n >= 5);
      await redis.kill();
      const roundAtKill = round;
      await waitFor(async () => round, (n) => n >= roundAtKill + 5);
      const ready = await fetch(`${app.url}/readyz`);
      expect(ready.status).toBe(503);
      expect((await ready.json()).error).toBe('not ready: redis unavailable');
      expect(await outboxLag(app.service.database.db)).toBeGreaterThan(0);

      await redis.start();
      const roundAtRestart = round;
      await waitFor(async () => round, (n) => n >= roundAtRestart + 3);
      posting = false;
      await producer;
      await waitFor(() => outboxLag(app.service.database.db), (lag) => lag === 0, 20_000);

      const check = new Queue(AUDIT_EVENTS_QUEUE, { connection: { url: redis.url }, prefix: app.service.config.queuePrefix });
      const jobs = await check.getWaiting(0, -1);
      await check.close();
      expect(jobs.length).toBe(sent.length);
      expect(new Set(jobs.map((j) => j.data.eventId))).toEqual(new Set(sent));
      expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
    } finally {
      await app.stop();
    }
  });
});
