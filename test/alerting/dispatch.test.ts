/**
 * The dispatcher on its own (no alert worker): two dispatchers on one database and prefix stand for two worker
 * processes, and a real audit-events queue with no worker stands for an event still waiting to be evaluated.
 */

import webApi from '@slack/web-api';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertDispatcher } from '../../src/alerting/dispatch.ts';
import { queueEvaluationGate } from '../../src/alerting/ordering.ts';
import { RuleSet } from '../../src/alerting/rule-loader.ts';
import { parseRule } from '../../src/alerting/rules/schema.ts';
import type { Rule } from '../../src/alerting/rules/types.ts';
import { SlackAlertSender } from '../../src/alerting/slack-sender.ts';
import type { StoredEvent } from '../../src/events.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics.ts';
import { ALERT_RANGE_JOB, type AlertRangeJob, AUDIT_EVENTS_QUEUE, alertRangeJobId } from '../../src/queue/names.ts';
import { createSlackClient } from '../../src/slack/client.ts';
import { claimAlert } from '../../src/store/alerts.ts';
import { appendEventsTx } from '../../src/store/append.ts';
import { createDb, type Database } from '../../src/store/db.ts';
import { getEvent } from '../../src/store/queries.ts';
import { createTestDatabase, deleteRedisPrefix, redisUrl, type TestDatabase, uniqueName } from '../helpers/database.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';

const { retryPolicies } = webApi;
const WORKSPACE = 'ws_dispatch';
const prefix = uniqueName('dispatch');
let testDatabase: TestDatabase;
let database: Database;
let slack: FakeSlack;
let redis: Redis;
let queue: Queue<AlertRangeJob>;
const dispatchers: AlertDispatcher[] = [];

function rule(yaml: string, file: string): Rule {
  const parsed = parseRule(JSON.parse(yaml), { file });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.rule;
}

const warning = rule('{"when":{"type":["Source Disabled"]},"channel":"#ordered","severity":"warning"}', 'warn.yml');
const critical = rule(
  '{"when":{"type":["Warehouses Disabled"]},"channel":"#ordered","severity":"critical"}',
  'crit.yml',
);
const rules = new RuleSet([warning, critical]);

function dispatcher(): AlertDispatcher {
  const logger = createLogger('silent');
  const client = createSlackClient(slack.botToken, slack.url, logger, { retryConfig: retryPolicies.rapidRetryPolicy });
  const metrics = createMetrics();
  const sender = new SlackAlertSender(client, logger, metrics, { minIntervalMs: 100, pacing: { redis, prefix } });
  const made = new AlertDispatcher({
    db: database.db,
    sql: database.sql,
    redis,
    prefix,
    sender,
    rules,
    revertEnabled: false,
    gate: queueEvaluationGate(queue, database.db, rules),
    logger,
    metrics,
    options: { leaseMs: 2000, sweepIntervalMs: 200, orderWaitMs: 1500 },
  });
  dispatchers.push(made);
  return made;
}

beforeAll(async () => {
  testDatabase = await createTestDatabase();
  database = createDb(testDatabase.url);
  slack = await startFakeSlack();
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: null });
  queue = new Queue<AlertRangeJob>(AUDIT_EVENTS_QUEUE, { connection: redis, prefix });
});

afterAll(async () => {
  for (const d of dispatchers) await d.stop();
  await queue?.close();
  redis?.disconnect();
  await deleteRedisPrefix(prefix);
  await database?.close();
  await slack?.close();
  await testDatabase?.drop();
});

let n = 0;
async function store(type: string): Promise<StoredEvent> {
  n += 1;
  const id = `evt_dispatch_${n}`;
  await appendEventsTx(database.db, WORKSPACE, [
    { id, type, actor: { type: 'user', id: `usr_${n}` }, resource: { type: 'source', id: `src_${n}` } },
  ]);
  return (await getEvent(database.db, WORKSPACE, id))!;
}

/** The one-event range a worker would be evaluating, for a job standing in for it. */
const rangeOf = (event: StoredEvent): AlertRangeJob => ({
  workspaceId: WORKSPACE,
  fromSeq: event.seq,
  toSeq: event.seq,
});

/** What the alert worker does for a match: claim the alert row, then hand it to a dispatcher. */
async function alert(d: AlertDispatcher, r: Rule, event: StoredEvent): Promise<void> {
  await claimAlert(database.db, { workspaceId: WORKSPACE, eventId: event.id, ruleId: r.id, channel: r.channel });
  await d.enqueue(r, event);
}

const postedIds = () =>
  slack
    .callsTo('chat.postMessage')
    .map((c) => (c.body.metadata as { event_payload: { event_id: string } }).event_payload.event_id);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the alert dispatcher', () => {
  it('holds an alert back while an earlier event that may alert the channel is still being evaluated', async () => {
    const d = dispatcher();
    await d.start();
    const [first, second] = [await store('Source Disabled'), await store('Source Disabled')];
    // The first event's job is still waiting for a worker; the second's alert is already queued.
    const job = await queue.add(ALERT_RANGE_JOB, rangeOf(first), { jobId: alertRangeJobId(rangeOf(first)) });
    await alert(d, warning, second);
    await sleep(500);
    expect(postedIds()).toEqual([]);
    // Evaluated: its alert is queued and its job done; now both go out, in event order.
    await alert(d, warning, first);
    await job.remove();
    await expect.poll(postedIds, { timeout: 5000 }).toEqual([first.id, second.id]);
  });

  it('does not hold a critical alert back for an earlier event that could only raise a warning', async () => {
    const d = dispatchers[0]!;
    const before = postedIds().length;
    const [earlier, urgent] = [await store('Source Disabled'), await store('Warehouses Disabled')];
    const job = await queue.add(ALERT_RANGE_JOB, rangeOf(earlier), { jobId: alertRangeJobId(rangeOf(earlier)) });
    const started = performance.now();
    await alert(d, critical, urgent);
    await expect.poll(() => postedIds().slice(before), { timeout: 5000 }).toEqual([urgent.id]);
    expect(performance.now() - started).toBeLessThan(1000);
    await job.remove();
  });

  it('posts after a bounded wait when an earlier event never gets through the rules', async () => {
    const d = dispatchers[0]!;
    const before = postedIds().length;
    const [stuck, later] = [await store('Source Disabled'), await store('Source Disabled')];
    const job = await queue.add(ALERT_RANGE_JOB, rangeOf(stuck), { jobId: alertRangeJobId(rangeOf(stuck)) });
    const started = performance.now();
    await alert(d, warning, later);
    await expect.poll(() => postedIds().slice(before), { timeout: 5000 }).toEqual([later.id]);
    expect(performance.now() - started).toBeGreaterThanOrEqual(1400);
    await job.remove();
  });

  it('posts critical first across two dispatchers, whichever queued the warnings, each alert once', async () => {
    const [a, b] = [dispatchers[0]!, dispatcher()];
    await b.start();
    const before = postedIds().length;
    const warnings = [];
    for (let i = 0; i < 10; i++) warnings.push(await store('Source Disabled'));
    // Half queued through each process; the channel's lease decides who posts, the table decides what.
    for (const [i, event] of warnings.entries()) await alert(i % 2 ? b : a, warning, event);
    await expect.poll(() => postedIds().length - before, { timeout: 5000 }).toBeGreaterThan(0);
    const urgent = await store('Warehouses Disabled');
    await alert(b, critical, urgent);
    const postedWhenQueued = postedIds().length - before;
    await expect.poll(() => postedIds().length - before, { timeout: 10_000 }).toBe(11);
    const order = postedIds().slice(before);
    // At most the warning whose slot was under way when the critical alert was queued.
    expect(order.indexOf(urgent.id) - postedWhenQueued).toBeLessThanOrEqual(1);
    expect(order.indexOf(urgent.id)).toBeLessThan(9);
    expect(order.filter((id) => id !== urgent.id)).toEqual(warnings.map((w) => w.id));
    expect(new Set(order).size).toBe(11);
  });
});
