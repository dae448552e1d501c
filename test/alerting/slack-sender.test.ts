import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import webApi from '@slack/web-api';
import { SlackAlertSender } from '../../src/alerting/slack-sender.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics.ts';
import { createSlackClient } from '../../src/slack/client.ts';
import type { AlertMessage } from '../../src/slack/blocks/alert.ts';
import { redisUrl, uniqueName } from '../helpers/database.ts';
import { startFakeSlack, type FakeSlack } from '../helpers/fake-slack.ts';

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

const message = (n: number): AlertMessage => ({
  text: `alert ${n}`,
  blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `alert ${n}` } }],
  metadata: { event_type: 'audit_alert', event_payload: { workspace_id: 'w', event_id: `e${n}`, rule_id: 'r' } },
});

function sender() {
  const logger = createLogger('silent');
  const client = createSlackClient(slack.botToken, slack.url, logger, { retryConfig: retryPolicies.rapidRetryPolicy });
  return new SlackAlertSender(client, logger, createMetrics(), { minIntervalMs: 300, pacing: { redis, prefix } });
}

describe('pacing posts to a channel', () => {
  it('spaces posts from two worker processes to one channel by the interval, and keeps each one’s order', async () => {
    const [a, b] = [sender(), sender()];
    await Promise.all([
      ...[1, 2, 3].map((n) => a.post('#paced', message(n))),
      ...[4, 5, 6].map((n) => b.post('#paced', message(n))),
    ]);
    const calls = slack.callsTo('chat.postMessage');
    expect(calls).toHaveLength(6);
    const times = calls.map((c) => c.at).sort((x, y) => x - y);
    // Slots are 300 ms apart by Redis time; arrival times here add timer and connection jitter (the first
    // post may open a connection), so the check is on the whole span plus a floor far above unpaced gaps.
    expect(times.at(-1)! - times[0]!).toBeGreaterThanOrEqual(5 * 300 - 200);
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(100);
    const order = calls.map((c) => Number(String(c.body.text).split(' ')[1]));
    expect(order.filter((n) => n <= 3)).toEqual([1, 2, 3]);
    expect(order.filter((n) => n > 3)).toEqual([4, 5, 6]);
  });

  it('posts the earliest stored event first when several wait for the same channel', async () => {
    const a = sender();
    const first = a.post('#ordered', message(10), [1000, 1]);
    // Their jobs finished in the wrong order; the channel is busy, so they queue and are sorted.
    const later = [a.post('#ordered', message(13), [1000, 4]), a.post('#ordered', message(11), [1000, 2]), a.post('#ordered', message(12), [1000, 3])];
    await Promise.all([first, ...later]);
    const texts = slack.callsTo('chat.postMessage').map((c) => String(c.body.text)).filter((t) => /alert 1[0-3]$/.test(t));
    expect(texts).toEqual(['alert 10', 'alert 11', 'alert 12', 'alert 13']);
  });

  it('does not hold back posts to another channel', async () => {
    const a = sender();
    const started = performance.now();
    await Promise.all([a.post('#one', message(7)), a.post('#two', message(8))]);
    expect(performance.now() - started).toBeLessThan(280);
  });
});
