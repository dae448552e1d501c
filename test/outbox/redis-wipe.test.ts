import webApi from '@slack/web-api';
import { Queue } from 'bullmq';
import { eq } from 'drizzle-orm';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAINTENANCE_QUEUE, REDIS_EPOCH_KEY, RETENTION_SCHEDULER_ID } from '../../src/queue/names.ts';
import { claimRevertRun } from '../../src/store/alert-groups.ts';
import { alertLag } from '../../src/store/alert-progress.ts';
import { createDb } from '../../src/store/db.ts';
import { alertGroups } from '../../src/store/schema/index.ts';
import { createTestDatabase, deleteRedisPrefix, redisUrl, type TestDatabase, uniqueName } from '../helpers/database.ts';
import { type FakeSegment, startFakeSegment } from '../helpers/fake-segment.ts';
import { type FakeMessage, type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { button, groupedCount, textOf } from '../helpers/grouped-alerts.ts';
import { type OwnRedis, ownRedis } from '../helpers/redis-server.ts';
import { rulesDir } from '../helpers/rules-dir.ts';
import { getEvents, logCapture, postEvents, startTestService, type TestService } from '../helpers/service.ts';
import { blockActionBody, postToSlackEndpoint, slackEnv } from '../helpers/slack-requests.ts';

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

const logged = (logs: ReturnType<typeof logCapture>, start: string) =>
  logs.lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith(start));

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
    timeout: 90_000,
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
      // 450 posts of at least 30 ms each into one channel, behind a Redis restart: 26–35 s alone on two cores, and it
      // ran out of a 30 s poll when other test files shared the machine.
      await expect
        .poll(() => postsPerAlert().size, { timeout: 50_000, interval: 200, message: context })
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

describe('a Revert all run when Redis loses its job', () => {
  const OWNER = 'U0OWNER1';
  const revertRules = rulesDir({
    'sources-disabled.yml':
      'when: { type: [Source Disabled] }\ngroup: { within: 10m, by: actor.id }\n' +
      'channel: "#wipe-revert"\nseverity: critical\nrevert: true\n',
  });
  let database: TestDatabase;
  let segment: FakeSegment;

  beforeAll(async () => {
    database = await createTestDatabase();
    segment = await startFakeSegment();
    slack.channelId('#wipe-revert');
  });

  afterAll(async () => {
    await segment?.close();
    await database?.drop();
    revertRules.remove();
  });

  /** The service with `roles` on the queue prefix given, short timers, and one lease of a Revert all run a second. */
  function startRevertService(prefix: string, roles: string, logs: ReturnType<typeof logCapture>) {
    return startTestService(
      database.url,
      {
        ROLES: roles,
        REDIS_URL: redisUrl(),
        QUEUE_PREFIX: prefix,
        ...slackEnv(slack, { owners: OWNER, teams: `${slack.teamId}:acme` }),
        SEGMENT_API_URL: segment.publicApiUrl,
        SEGMENT_API_TOKEN: segment.apiToken,
        RULES_DIR: revertRules.dir,
      },
      {
        logStream: logs.stream,
        redisEpochCheckMs: 200,
        slackMinIntervalMs: 20,
        slackUpdateIntervalMs: 100,
        slackRetryConfig: retryPolicies.rapidRetryPolicy,
        dispatch: { sweepIntervalMs: 200 },
        revertAllLeaseMs: 1000,
      },
    );
  }

  /** Ten sources disabled by one token, grouped in one message in #wipe-revert. */
  async function disableTen(app: TestService, actor: string): Promise<string[]> {
    const sources = Array.from({ length: 10 }, (_, i) => `src_${actor}_${i + 1}`);
    for (const id of sources) segment.setSource({ id, enabled: false });
    const events = sources.map((id) => ({
      id: `evt_${id}`,
      type: 'Source Disabled',
      actor: { type: 'token', id: actor },
      resource: { type: 'source', id },
    }));
    expect((await postEvents(app.url, await app.token('acme'), { events })).status).toBe(201);
    await expect.poll(() => groupMessage(actor) && groupedCount(groupMessage(actor)!), { timeout: 15_000 }).toBe(10);
    return sources;
  }

  function groupMessage(actor: string): FakeMessage | undefined {
    return slack.messages('#wipe-revert').find((m) => groupedCount(m) !== undefined && textOf(m).includes(actor));
  }

  async function groupOf(app: TestService, actor: string) {
    const [row] = await app.service.database.db.select().from(alertGroups).where(eq(alertGroups.groupValue, actor));
    return row;
  }

  /** Each source patched once at Segment, enabled again, and each revert recorded once. */
  async function expectRevertedOnce(app: TestService, sources: string[]) {
    for (const id of sources) {
      expect(segment.callsTo(`PATCH /sources/${id}`), id).toHaveLength(1);
      expect(segment.getSource(id)?.enabled, id).toBe(true);
    }
    const token = await app.token('acme');
    const recorded = (await (await getEvents(app.url, token, '?type=Source%20Enabled&limit=1000')).json()) as {
      events: { metadata: { revertOf: string } }[];
    };
    const ours = recorded.events.map((e) => e.metadata.revertOf).filter((id) => sources.includes(id.slice(4)));
    expect(ours.sort()).toEqual(sources.map((id) => `evt_${id}`).sort());
  }

  it('is queued again from Postgres and reverts every event exactly once, even beside its lost job still running', {
    timeout: 60_000,
  }, async () => {
    // The queue prefix is the test's own, on the shared Redis: deleting every key under it is this service's wipe.
    const prefix = uniqueName('wipe');
    const logs = logCapture();
    // The relay (which notices wipes) and the click in one service; the worker in another, to stop and start.
    const front = await startRevertService(prefix, 'api,relay,slack', logs);
    let worker: TestService | undefined = await startRevertService(prefix, 'worker', logs);
    try {
      const sources = await disableTen(front, 'tok_wipe');

      // No worker when Revert all is clicked: its job waits in Redis, which then loses it.
      await worker.service.stop(5000);
      worker = undefined;
      const drawn = groupMessage('tok_wipe')!;
      const clicked = await postToSlackEndpoint(
        front.url,
        blockActionBody({
          actionId: 'audit_revert_all',
          value: button(drawn, 'audit_revert_all')!.value,
          userId: OWNER,
          teamId: slack.teamId,
          channelId: slack.channelId('#wipe-revert'),
          message: { ts: drawn.ts, blocks: drawn.blocks ?? [] },
          responseUrl: slack.responseUrl('wipe-click'),
        }),
      );
      expect(clicked.status).toBe(200);
      await expect
        .poll(() => slack.responses('wipe-click').at(-1)?.body.text, { timeout: 10_000 })
        .toBe('Reverting 10 changes; the alert shows the progress.');
      expect(await groupOf(front, 'tok_wipe')).toMatchObject({ revertRun: 1, revertState: 'queued' });
      await deleteRedisPrefix(prefix);
      await expect.poll(() => metric(front, 'audit_redis_wipes_total'), { timeout: 5000 }).toBe(1);

      // A worker again, with one revert held at Segment when Redis is wiped a second time: the job it runs is lost
      // while it runs, and the copy queued again must wait for it rather than revert the held event a second time.
      const held = segment.hold('PATCH /sources/src_tok_wipe_3');
      worker = await startRevertService(prefix, 'worker', logs);
      await held.waitUntilHeld(1, 15_000);
      await deleteRedisPrefix(prefix);
      await expect.poll(() => metric(front, 'audit_redis_wipes_total'), { timeout: 5000 }).toBe(2);
      await expect
        .poll(() => logged(logs, 'Revert all run held by another attempt').length, { timeout: 10_000 })
        .toBeGreaterThan(0);
      held.release();

      await expect
        .poll(() => textOf(groupMessage('tok_wipe')!), { timeout: 20_000 })
        .toMatch(/finished.*: 10 reverted\./);
      expect(await groupOf(front, 'tok_wipe')).toMatchObject({ revertRun: 1, revertState: 'done', revertTotal: 10 });
      // The copy looks again once the run's lease is given up, and finds nothing left to do.
      await expect
        .poll(() => logged(logs, 'Revert all run already ended').length, { timeout: 10_000 })
        .toBeGreaterThan(0);
      await expectRevertedOnce(front, sources);
    } finally {
      await worker?.service.stop(5000);
      await front.stop();
    }
  });

  it('is queued at start when its job never reached Redis (the clicking process died before adding it)', {
    timeout: 30_000,
  }, async () => {
    const prefix = uniqueName('wipe');
    const logs = logCapture();
    const first = await startRevertService(prefix, 'api,relay,slack,worker', logs);
    let app: TestService | undefined;
    try {
      const sources = await disableTen(first, 'tok_start');
      const group = (await groupOf(first, 'tok_start'))!;
      await first.service.stop(5000);
      // The click's half, committed in Postgres; its add to the queue never happened.
      const store = createDb(database.url);
      const claim = await store.db
        .transaction((tx) =>
          claimRevertRun(tx, { workspaceId: 'acme', groupId: group.id, userId: OWNER, scope: 'all', upTo: 10 }),
        )
        .finally(() => store.close());
      expect(claim).toMatchObject({ claimed: true, total: 10 });

      app = await startRevertService(prefix, 'api,relay,slack,worker', logs);
      await expect
        .poll(() => textOf(groupMessage('tok_start')!), { timeout: 15_000 })
        .toMatch(/finished.*: 10 reverted\./);
      expect(logged(logs, 'unfinished Revert all runs found at start')).toHaveLength(1);
      await expectRevertedOnce(app, sources);
    } finally {
      await app?.stop();
      await deleteRedisPrefix(prefix);
    }
  });
});
