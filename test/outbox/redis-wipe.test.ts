import webApi from '@slack/web-api';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAINTENANCE_QUEUE, REDIS_EPOCH_KEY, RETENTION_SCHEDULER_ID } from '../../src/queue/names.ts';
import { alertLag } from '../../src/store/alert-progress.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { type OwnRedis, ownRedis } from '../helpers/redis-server.ts';
import { rulesDir } from '../helpers/rules-dir.ts';
import { logCapture, postEvents, startTestService, type TestService } from '../helpers/service.ts';

// Not a name Node's ESM loader detects in this CommonJS package.
const { retryPolicies } = webApi;

const rules = rulesDir({
  'disabled.yml': 'when: { type: [Warehouses Disabled] }\nchannel: "#wipe-a"\nseverity: critical\n',
  'any-warehouse.yml': 'when: { category: [Warehouses] }\nchannel: "#wipe-b"\nseverity: info\n',
});

let slack: FakeSlack;

beforeAll(async () => {
  slack = await startFakeSlack();
});

afterAll(async () => {
  await slack?.close();
  rules.remove();
});

/** Short timers, so a wipe is noticed and a lost job's alert claim lapses within a test's patience. */
async function startService(databaseUrl: string, redis: OwnRedis, logs = logCapture()): Promise<TestService> {
  return startTestService(
    databaseUrl,
    {
      ROLES: 'api,relay,worker,scheduler',
      REDIS_URL: redis.url,
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_API_URL: slack.url,
      RULES_DIR: rules.dir,
    },
    {
      logStream: logs.stream,
      redisEpochCheckMs: 200,
      scheduleCheckMs: 200,
      slackMinIntervalMs: 2,
      slackRetryConfig: retryPolicies.rapidRetryPolicy,
      alertWorker: { lockDuration: 2000, stalledInterval: 500 },
      alertLeaseMs: 2000,
    },
  );
}

async function metric(app: TestService, name: string): Promise<number> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/** How many times each (rule, event) was posted, from the alerts' message metadata. */
function postsPerAlert(): Map<string, number> {
  const counts = new Map<string, number>();
  for (const call of slack.callsTo('chat.postMessage')) {
    const payload = (call.body.metadata as { event_payload?: { event_id: string; rule_id: string } } | undefined)
      ?.event_payload;
    if (!payload) continue;
    const key = `${payload.rule_id} ${payload.event_id}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

const warned = (logs: ReturnType<typeof logCapture>, start: string) =>
  logs.lines.filter((l) => l.level === 40 && typeof l.msg === 'string' && l.msg.startsWith(start));

describe('a Redis restarted empty in the middle of ingest', () => {
  let database: TestDatabase;
  let redis: OwnRedis;

  beforeAll(async () => {
    database = await createTestDatabase();
    redis = await ownRedis();
    await redis.start();
  });

  afterAll(async () => {
    await redis?.cleanup();
    await database?.drop();
  });

  it('queues again from Postgres what Redis lost, posts every alert exactly once, and restores the schedules', {
    timeout: 60_000,
  }, async () => {
    const logs = logCapture();
    const app = await startService(database.url, redis, logs);
    // Slack answers slowly, so that when Redis goes, alert jobs are waiting and running, not all done.
    slack.setDelay('chat.postMessage', 30);
    try {
      const token = await app.token('wipe');
      const rounds = 30;
      // Anywhere from a few batches in to a few batches before the end, so jobs are waiting, running and not yet
      // relayed when Redis goes; which round it was is in the failure message.
      const wipeAfter = 4 + Math.floor(Math.random() * (rounds - 8));
      const sent: string[] = [];
      for (let round = 0; round < rounds; round++) {
        if (round === wipeAfter) {
          await redis.kill({ wipe: true });
          await redis.start();
        }
        const events = Array.from({ length: 10 }, (_, i) => ({
          id: `evt_${round}_${i}`,
          type: i % 2 ? 'Warehouses Disabled' : 'Warehouses Enabled',
          // An actor each: storm protection (which collapses one actor's waiting alerts into one message) stays out of
          // this test, so that each alert is its own message and can be counted by its metadata.
          actor: { type: 'user', id: `usr_${round}_${i}` },
          resource: { type: 'warehouse', id: `wh_${round}_${i}` },
        }));
        expect((await postEvents(app.url, token, { events })).status, `round ${round}`).toBe(201);
        sent.push(...events.map((e) => e.id));
      }

      // Both rules match the Disabled events, one rule the Enabled ones.
      const expected = new Set(
        sent.flatMap((id, n) => (n % 2 ? [`disabled ${id}`, `any-warehouse ${id}`] : [`any-warehouse ${id}`])),
      );
      const context = `Redis wiped after round ${wipeAfter}`;
      await expect
        .poll(() => postsPerAlert().size, { timeout: 30_000, interval: 200, message: context })
        .toBe(expected.size);
      await expect.poll(() => alertLag(app.service.database.db), { timeout: 10_000, message: context }).toBe(0);
      // Long enough for a stray second post (a lost job's claim lapsing, a retry) to have shown up.
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const posts = postsPerAlert();
      expect(new Set(posts.keys()), context).toEqual(expected);
      expect(
        [...posts].filter(([, n]) => n !== 1),
        context,
      ).toEqual([]);

      expect(await metric(app, 'audit_redis_wipes_total'), context).toBe(1);
      expect(warned(logs, 'Redis lost the queue'), context).toHaveLength(1);
      await expect
        .poll(() => metric(app, 'audit_schedules_restored_total{schedule="retention"}'), { message: context })
        .toBe(1);
      const maintenance = new Queue(MAINTENANCE_QUEUE, {
        connection: { url: redis.url },
        prefix: app.service.config.queuePrefix,
      });
      expect(await maintenance.getJobScheduler(RETENTION_SCHEDULER_ID), context).toBeDefined();
      await maintenance.close();
    } finally {
      slack.setDelay('chat.postMessage', 0);
      await app.stop();
    }
  });
});

describe('the Redis epoch marker', () => {
  let database: TestDatabase;
  let redis: OwnRedis;

  beforeAll(async () => {
    database = await createTestDatabase();
    redis = await ownRedis();
    await redis.start();
  });

  afterAll(async () => {
    await redis?.cleanup();
    await database?.drop();
  });

  it('takes a first start and a restart with persistence for what they are, and a FLUSHALL for a wipe', async () => {
    const logs = logCapture();
    let app = await startService(database.url, redis, logs);
    const prefix = app.service.config.queuePrefix;
    const client = new Redis(redis.url);
    try {
      expect(await client.get(`${prefix}:${REDIS_EPOCH_KEY}`)).toMatch(/^[0-9a-f-]{36}$/);
      expect(await metric(app, 'audit_redis_wipes_total')).toBe(0);

      // A restart that keeps its data (the append-only file) lost nothing.
      await redis.kill();
      await redis.start();
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(await metric(app, 'audit_redis_wipes_total')).toBe(0);

      // So does a restart of the service itself.
      await app.service.stop(5000);
      app = await startTestService(
        database.url,
        { ROLES: 'api,relay', REDIS_URL: redis.url, QUEUE_PREFIX: prefix },
        { logStream: logs.stream, redisEpochCheckMs: 200 },
      );
      expect(await metric(app, 'audit_redis_wipes_total')).toBe(0);

      // A flush drops no connection: the timer finds it.
      await client.flushall();
      await expect.poll(() => metric(app, 'audit_redis_wipes_total'), { timeout: 5000 }).toBe(1);
      expect(await client.get(`${prefix}:${REDIS_EPOCH_KEY}`)).toMatch(/^[0-9a-f-]{36}$/);
      expect(warned(logs, 'Redis lost the queue')).toHaveLength(1);
    } finally {
      client.disconnect();
      await app.stop();
    }
  });
});
