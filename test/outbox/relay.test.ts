import { Queue } from 'bullmq';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { OutboxRelay } from '../../src/outbox/relay.ts';
import { createQueues, createRedis } from '../../src/queue/connection.ts';
import { ALERT_RANGE_JOB, type AlertRangeJob, AUDIT_EVENTS_QUEUE, alertRangeJobId } from '../../src/queue/names.ts';
import { appendEventsTx } from '../../src/store/append.ts';
import { outboxLag } from '../../src/store/cursors.ts';
import { createDb, type Database } from '../../src/store/db.ts';
import { createTestDatabase, deleteRedisPrefix, redisUrl, type TestDatabase, uniqueName } from '../helpers/database.ts';
import { type OwnRedis, ownRedis } from '../helpers/redis-server.ts';
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

const batch = (n: number, prefix: string) =>
  Array.from({ length: n }, (_, i) => ({ ...sampleEvent(), id: `${prefix}:${i}` })) as never[];

/** Each workspace's seqs covered by the jobs, in order; a seq in two jobs appears twice. */
function coveredSeqs(jobs: { data: AlertRangeJob }[]): Map<string, number[]> {
  const covered = new Map<string, number[]>();
  for (const { data } of jobs) {
    const seqs = covered.get(data.workspaceId) ?? [];
    for (let seq = data.fromSeq; seq <= data.toSeq; seq++) seqs.push(seq);
    covered.set(data.workspaceId, seqs);
  }
  for (const seqs of covered.values()) seqs.sort((a, b) => a - b);
  return covered;
}

const oneTo = (n: number) => Array.from({ length: n }, (_, i) => i + 1);

describe('the outbox relay', () => {
  it('puts each commit on the queue as one job for its seq range, woken by the commit', async () => {
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
      const waiting = await waitFor(
        () => queues.auditEvents.getWaiting(),
        (jobs) => jobs.length === 1,
        2000,
      );
      expect(Date.now() - started).toBeLessThan(2000);
      const range = { workspaceId: 'ws-a', fromSeq: 1, toSeq: 5 };
      expect(waiting[0]!.name).toBe(ALERT_RANGE_JOB);
      expect(waiting[0]!.id).toBe(alertRangeJobId(range));
      expect(waiting[0]!.data).toEqual(range);

      // The next commit is the next range.
      await appendEventsTx(store.db, 'ws-a', batch(2, 'b'));
      await waitFor(
        () => queues.auditEvents.getWaiting(),
        (jobs) => jobs.length === 2,
        2000,
      );
      expect(
        (await queues.auditEvents.getJob(alertRangeJobId({ workspaceId: 'ws-a', fromSeq: 6, toSeq: 7 })))?.data,
      ).toEqual({ workspaceId: 'ws-a', fromSeq: 6, toSeq: 7 });

      // Offering a range again (a crash after Redis accepted the job, before the cursor moved) adds nothing.
      await store.db.execute(sql`update outbox_cursors set relayed_seq = 5 where workspace_id = 'ws-a'`);
      await relay.drain();
      expect(await queues.auditEvents.getJobCountByTypes('waiting')).toBe(2);
      expect(await outboxLag(store.db)).toBe(0);
    } finally {
      await relay.stop();
      await queues.close();
      redis.disconnect();
      await deleteRedisPrefix(prefix);
    }
  });

  it('relays each event in exactly one job when two relay replicas race', async () => {
    const prefix = uniqueName('relay2');
    const redisA = createRedis(redisUrl(), 'producer');
    const redisB = createRedis(redisUrl(), 'producer');
    const queuesA = createQueues(redisA, prefix);
    const queuesB = createQueues(redisB, prefix);
    const storeB = createDb(database.url);
    const relayA = new OutboxRelay(store.db, store.sql, queuesA.auditEvents, silent, { maxRangeEvents: 7 });
    const relayB = new OutboxRelay(storeB.db, storeB.sql, queuesB.auditEvents, silent, { maxRangeEvents: 7 });
    await Promise.all([relayA.start(), relayB.start()]);
    try {
      await Promise.all(
        Array.from({ length: 10 }, (_, i) => appendEventsTx(store.db, `race-${i % 3}`, batch(20, `r${i}`))),
      );
      await waitFor(
        () => outboxLag(store.db),
        (lag) => lag === 0,
      );
      const jobs = await queuesA.auditEvents.getWaiting(0, -1);
      expect(jobs.every((job) => job.data.toSeq - job.data.fromSeq < 7)).toBe(true);
      const covered = coveredSeqs(jobs);
      const perWorkspace = [0, 1, 2].map((w) => [`race-${w}`, oneTo(20 * [4, 3, 3][w]!)]);
      expect(Object.fromEntries(covered)).toEqual(Object.fromEntries(perWorkspace));
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

  it('keeps answering 201, reports Redis in /readyz, and queues each event once when Redis returns', async () => {
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
      await waitFor(
        async () => round,
        (n) => n >= 5,
      );
      await redis.kill();
      const roundAtKill = round;
      await waitFor(
        async () => round,
        (n) => n >= roundAtKill + 5,
      );
      const ready = await fetch(`${app.url}/readyz`);
      expect(ready.status).toBe(503);
      expect((await ready.json()).error).toBe('not ready: redis unavailable');
      expect(await outboxLag(app.service.database.db)).toBeGreaterThan(0);

      await redis.start();
      const roundAtRestart = round;
      await waitFor(
        async () => round,
        (n) => n >= roundAtRestart + 3,
      );
      posting = false;
      await producer;
      await waitFor(
        () => outboxLag(app.service.database.db),
        (lag) => lag === 0,
        20_000,
      );

      const check = new Queue(AUDIT_EVENTS_QUEUE, {
        connection: { url: redis.url },
        prefix: app.service.config.queuePrefix,
      });
      const jobs = await check.getWaiting(0, -1);
      await check.close();
      expect(coveredSeqs(jobs as { data: AlertRangeJob }[]).get('outage')).toEqual(oneTo(sent.length));
      expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
    } finally {
      await app.stop();
    }
  });
});
