import webApi from '@slack/web-api';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OutgoingMessage, SlackAlertSender } from '../../src/alerting/slack-sender.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics.ts';
import { createSlackClient } from '../../src/slack/client.ts';
import { redisUrl, uniqueName } from '../helpers/database.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';

const { retryPolicies } = webApi;
let slack: FakeSlack;
let redis: Redis;
const prefix = uniqueName('pace');

beforeAll(async () => {
  slack = await startFakeSlack();
  redis = new Redis(redisUrl());
});

afterAll(async () => {
  await slack?.close();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length) await redis.del(...keys);
  redis.disconnect();
});

const message = (n: number): OutgoingMessage => ({
  text: `alert ${n}`,
  blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `alert ${n}` } }],
  metadata: { event_type: 'audit_alert', event_payload: { workspace_id: 'w', event_id: `e${n}`, rule_id: 'r' } },
});

function sender() {
  const logger = createLogger('silent');
  const client = createSlackClient(slack.botToken, slack.url, logger, { retryConfig: retryPolicies.rapidRetryPolicy });
  return new SlackAlertSender(client, logger, createMetrics(), {
    minIntervalMs: 300,
    updateIntervalMs: 200,
    pacing: { redis, prefix },
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** What a dispatcher does per post: wait for the reserved slot, then post. */
async function pacedPost(s: SlackAlertSender, channel: string, n: number) {
  await sleep(await s.reservePostSlot(channel));
  return s.post(channel, message(n));
}

describe('pacing posts to a channel', () => {
  it('spaces posts from two worker processes to one channel by the interval', async () => {
    const [a, b] = [sender(), sender()];
    const started = performance.now();
    await Promise.all([
      ...[1, 2, 3].map((n) => pacedPost(a, '#paced', n)),
      ...[4, 5, 6].map((n) => pacedPost(b, '#paced', n)),
    ]);
    const calls = slack.callsTo('chat.postMessage');
    expect(calls).toHaveLength(6);
    const times = calls.map((c) => c.at).sort((x, y) => x - y);
    // Slots are 300 ms apart by Redis time, all reserved after `started`, and a post waits for its slot: the i-th
    // post cannot reach Slack before i × 300 ms. (Gaps between arrivals are no measure: the first post may be held up
    // opening a connection, which shortens the gap after it.) 20 ms allows for the clock's and timers' granularity.
    for (const [i, at] of times.entries()) expect(at - started).toBeGreaterThanOrEqual(i * 300 - 20);
  });

  it('does not hold back posts to another channel', async () => {
    const a = sender();
    expect(await a.reservePostSlot('#one')).toBe(0);
    expect(await a.reservePostSlot('#two')).toBe(0);
    expect(await a.reservePostSlot('#one')).toBeGreaterThan(200);
  });

  it('paces chat.update across the workspace, whatever message and channel it edits', async () => {
    const [a, b] = [sender(), sender()];
    const waits = [await a.reserveUpdateSlot(), await b.reserveUpdateSlot(), await a.reserveUpdateSlot()];
    expect(waits[0]).toBe(0);
    expect(waits[1]).toBeGreaterThan(150);
    expect(waits[2]).toBeGreaterThan(350);
  });

  it('edits a posted message in place and tells a permanent refusal apart', async () => {
    const a = sender();
    const posted = await a.post('#edited', message(7));
    await a.update(posted, message(8));
    expect(slack.messages('#edited')).toHaveLength(1);
    expect(slack.messages('#edited')[0]!.text).toBe('alert 8');
    await expect(a.update({ ...posted, ts: '1.000001' }, message(9))).rejects.toMatchObject({
      code: 'message_not_found',
    });
  });
});
