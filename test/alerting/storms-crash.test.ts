/**
 * Alert storms across real worker processes (test/helpers/worker-process.ts) on one database and queue prefix: two
 * at once, and one SIGKILLed while it posts a group's message or runs a Revert all.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { eq, inArray } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Database } from '../../src/store/db.ts';
import { alertGroups, alerts } from '../../src/store/schema/index.ts';
import { createIngestToken } from '../../src/store/tokens.ts';
import { createTestDatabase, deleteRedisPrefix, redisUrl, type TestDatabase, uniqueName } from '../helpers/database.ts';
import { type FakeSegment, startFakeSegment } from '../helpers/fake-segment.ts';
import { type FakeMessage, type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { button, groupedCount, textOf } from '../helpers/grouped-alerts.ts';
import { freePort } from '../helpers/redis-server.ts';
import { rulesDir } from '../helpers/rules-dir.ts';
import { blockActionBody, postToSlackEndpoint, slackEnv } from '../helpers/slack-requests.ts';

let database: TestDatabase;
let store: Database;
let slack: FakeSlack;
let segment: FakeSegment;
let token: string;
const OWNER = 'U0OWNER1';
const prefix = uniqueName('storms');
const rules = rulesDir({
  'flood.yml': 'when: { type: [Integrations Enabled] }\nchannel: "#two"\nseverity: warning\n',
  'flood-critical.yml': 'when: { type: [Warehouses Disabled] }\nchannel: "#two"\nseverity: critical\n',
  'grouped.yml':
    'when: { type: [Integrations Disabled] }\ngroup: { within: 10m, by: actor.id }\n' +
    'channel: "#crash-group"\nseverity: warning\n',
  'revertible.yml':
    'when: { type: [Source Disabled] }\ngroup: { within: 10m, by: actor.id }\n' +
    'channel: "#crash-revert"\nseverity: critical\nrevert: true\n',
});
const running = new Set<ChildProcess>();

beforeAll(async () => {
  database = await createTestDatabase();
  store = createDb(database.url);
  slack = await startFakeSlack();
  segment = await startFakeSegment();
  for (const channel of ['#two', '#crash-group', '#crash-revert']) slack.channelId(channel);
  token = (await createIngestToken(store.db, { workspaceId: 'acme', name: 'storms' })).token;
});

afterEach(async () => {
  for (const child of running) {
    child.kill('SIGTERM');
    await once(child, 'exit');
  }
  running.clear();
});

afterAll(async () => {
  await deleteRedisPrefix(prefix);
  await store?.close();
  await slack?.close();
  await segment?.close();
  await database?.drop();
  rules.remove();
});

async function startWorker(extra: Record<string, string> = {}): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn('node', ['--import', 'tsx', 'test/helpers/worker-process.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl(),
      QUEUE_PREFIX: prefix,
      ROLES: 'api,relay,worker,slack',
      PORT: String(port),
      RULES_DIR: rules.dir,
      ...slackEnv(slack, { owners: OWNER, teams: `${slack.teamId}:acme` }),
      SEGMENT_API_URL: segment.publicApiUrl,
      SEGMENT_API_TOKEN: segment.apiToken,
      LOG_LEVEL: 'warn',
      ...extra,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  running.add(child);
  child.once('exit', () => running.delete(child));
  let out = '';
  child.stdout!.on('data', (chunk) => (out += chunk));
  for (let i = 0; !out.includes('ready'); i++) {
    if (i > 400 || child.exitCode !== null) throw new Error(`worker did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, url: `http://127.0.0.1:${port}` };
}

async function send(url: string, events: Record<string, unknown>[]) {
  const response = await fetch(`${url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ events }),
  });
  expect(response.status).toBe(201);
}

async function kill(child: ChildProcess): Promise<void> {
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

describe('alert storms across worker processes', () => {
  it('two workers: a critical alert behind 60 waiting warnings goes out next, every alert once', async () => {
    const slow = { TEST_SLACK_MIN_INTERVAL_MS: '50' };
    const [one, two] = [await startWorker(slow), await startWorker(slow)];
    const warnings = Array.from({ length: 60 }, (_, i) => ({
      id: `evt_two_${i}`,
      type: 'Integrations Enabled',
      actor: { type: 'user', id: `usr_two_${i}` },
      resource: { type: 'destination', id: `dst_${i}` },
    }));
    // Half through each process, so both evaluate and queue.
    await Promise.all([send(one.url, warnings.slice(0, 30)), send(two.url, warnings.slice(30))]);
    await expect.poll(() => slack.messages('#two').length, { timeout: 15_000 }).toBeGreaterThan(2);
    const sentAt = performance.now();
    await send(two.url, [
      {
        id: 'evt_two_critical',
        type: 'Warehouses Disabled',
        actor: { type: 'user', id: 'u' },
        resource: { type: 'warehouse', id: 'wh' },
      },
    ]);
    const posts = () => slack.callsTo('chat.postMessage').filter((c) => c.body.channel === '#two');
    await expect
      .poll(() => posts().some((c) => JSON.stringify(c.body).includes('evt_two_critical')), { timeout: 15_000 })
      .toBe(true);
    const at = posts().findIndex((c) => JSON.stringify(c.body).includes('evt_two_critical'));
    expect(
      posts()
        .slice(0, at)
        .filter((c) => c.at > sentAt).length,
    ).toBeLessThanOrEqual(3);
    await expect.poll(() => slack.messages('#two').length, { timeout: 20_000 }).toBe(61);
    expect(posts()).toHaveLength(61);
    const rows = await store.db
      .select()
      .from(alerts)
      .where(inArray(alerts.eventId, [...warnings.map((w) => w.id), 'evt_two_critical']));
    expect(rows.map((r) => r.status)).toEqual(rows.map(() => 'sent'));
  }, 90_000);

  it('a worker killed as Slack takes a group’s message: another finds it, and it ends counting all', async () => {
    const first = await startWorker();
    slack.afterHandled('chat.postMessage', (body) => {
      if (body.channel === '#crash-group') first.child.kill('SIGKILL');
    });
    const exited = once(first.child, 'exit');
    const events = Array.from({ length: 30 }, (_, i) => ({
      id: `evt_group_${i}`,
      type: 'Integrations Disabled',
      actor: { type: 'token', id: 'tok_crash' },
      resource: { type: 'destination', id: `dst_g_${i}` },
    }));
    await send(first.url, events);
    await exited;
    slack.afterHandled('chat.postMessage', undefined);
    expect(slack.messages('#crash-group')).toHaveLength(1);

    await startWorker();
    await expect
      .poll(() => slack.messages('#crash-group').map(groupedCount), { timeout: 30_000, interval: 200 })
      .toEqual([30]);
    expect(slack.callsTo('chat.postMessage').filter((c) => c.body.channel === '#crash-group')).toHaveLength(1);
    expect(slack.callsTo('conversations.history').length).toBeGreaterThan(0);
    const rows = await store.db
      .select()
      .from(alerts)
      .where(
        inArray(
          alerts.eventId,
          events.map((e) => e.id),
        ),
      );
    expect(rows).toHaveLength(30);
    expect(rows.filter((r) => r.status === 'sent')).toHaveLength(1);
    expect(rows.filter((r) => r.status === 'grouped')).toHaveLength(29);
    const [group] = await store.db.select().from(alertGroups).where(eq(alertGroups.groupValue, 'tok_crash'));
    expect(group).toMatchObject({ count: 30, ts: slack.messages('#crash-group')[0]!.ts });
  }, 90_000);

  it('a worker killed mid-Revert-all: another resumes the run and records each revert exactly once', async () => {
    const sources = Array.from({ length: 16 }, (_, i) => `src_k_${i + 1}`);
    for (const id of sources) segment.setSource({ id, enabled: false });
    const first = await startWorker();
    await send(
      first.url,
      sources.map((id) => ({
        id: `evt_${id}`,
        type: 'Source Disabled',
        actor: { type: 'token', id: 'tok_k' },
        resource: { type: 'source', id },
      })),
    );
    await expect.poll(() => slack.messages('#crash-revert').map(groupedCount), { timeout: 20_000 }).toEqual([16]);
    const message = slack.messages('#crash-revert')[0]!;
    segment.setDelay('PATCH /sources', 150);
    const clicked = await postToSlackEndpoint(
      first.url,
      blockActionBody({
        actionId: 'audit_revert_all',
        value: button(message, 'audit_revert_all')!.value,
        userId: OWNER,
        teamId: slack.teamId,
        channelId: slack.channelId('#crash-revert'),
        message: { ts: message.ts, blocks: message.blocks ?? [] },
        responseUrl: slack.responseUrl('crash-click'),
      }),
    );
    expect(clicked.status).toBe(200);
    await segment.waitForCalls('PATCH /sources', 6, 15_000);
    await kill(first.child);
    const reachedBeforeKill = segment.callsTo('PATCH /sources').length;
    segment.setDelay('PATCH /sources', 0);

    const second = await startWorker();
    const current = (): FakeMessage => slack.messages('#crash-revert')[0]!;
    await expect.poll(() => textOf(current()), { timeout: 30_000, interval: 200 }).toMatch(/finished.*: 16 reverted\./);
    for (const id of sources) expect(segment.getSource(id)?.enabled, id).toBe(true);
    // The calls the dead worker had in flight may be made again (each sets enabled: true, so twice is harmless);
    // nothing else is, and each revert is recorded once.
    const patches = segment.callsTo('PATCH /sources');
    expect(patches.length).toBeLessThanOrEqual(sources.length + Math.min(4, reachedBeforeKill));
    const recorded = await fetch(`${second.url}/v1/events?type=Source%20Enabled&limit=100`, {
      headers: { authorization: `Bearer ${token}` },
    }).then((r) => r.json() as Promise<{ events: { metadata: { revertOf: string } }[] }>);
    expect(recorded.events.map((e) => e.metadata.revertOf).sort()).toEqual(sources.map((id) => `evt_${id}`).sort());
  }, 120_000);
});
