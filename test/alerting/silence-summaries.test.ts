import webApi, { LogLevel, WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RuleSet } from '../../src/alerting/rule-loader.ts';
import { createSilenceSummaries } from '../../src/alerting/silence-summaries.ts';
import { createLogger } from '../../src/logger.ts';
import { buildSilenceSummary } from '../../src/slack/blocks/silences.ts';
import { createDb, type Database } from '../../src/store/db.ts';
import { claimDueSilenceSummary, createSilence, getSilence } from '../../src/store/silences.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';

const { retryPolicies } = webApi;

let database: TestDatabase;
let store: Database;
let slack: FakeSlack;
let client: WebClient;
const logger = createLogger('silent');
const rules = new RuleSet();

beforeAll(async () => {
  database = await createTestDatabase();
  store = createDb(database.url);
  slack = await startFakeSlack();
  client = new WebClient(slack.botToken, {
    slackApiUrl: slack.url,
    retryConfig: retryPolicies.rapidRetryPolicy,
    logLevel: LogLevel.ERROR,
  });
});

afterAll(async () => {
  await store?.close();
  await slack?.close();
  await database?.drop();
});

let n = 0;
/** A silence that has already ended (1 ms long), in #silenced. */
async function endedSilence() {
  n += 1;
  const { silence } = await createSilence(store.db, {
    actor: { type: 'user', id: 'U0OWNER' },
    workspaceId: 'acme',
    ruleId: 'noisy',
    resourceId: `res_${n}`,
    channel: '#silenced',
    durationMs: 1,
    duration: '1ms',
  });
  await new Promise((resolve) => setTimeout(resolve, 5));
  return silence;
}

const summariesOf = (id: number) =>
  slack.messages('#silenced').filter((m) => m.metadata?.event_payload.silence_id === id);
const summaries = () =>
  createSilenceSummaries({ db: store.db, client, rules, logger, options: { intervalMs: 20, leaseMs: 60_000 } });

describe('silence summaries', () => {
  it('posts one summary per ended silence when several workers sweep at once', async () => {
    const silences = await Promise.all(Array.from({ length: 6 }, () => endedSilence()));
    const [a, b, c] = [summaries(), summaries(), summaries()];
    await Promise.all([a.sweep(), b.sweep(), c.sweep(), a.sweep()]);
    await Promise.all([a.sweep(), b.sweep(), c.sweep()]);
    for (const silence of silences) {
      expect(summariesOf(silence.id)).toHaveLength(1);
      expect((await getSilence(store.db, 'acme', silence.id))?.summaryStatus).toBe('posted');
    }
  });

  it('does not post again a summary that a worker posted before it died', async () => {
    const silence = await endedSilence();
    // The dying worker: claims with a short lease, posts, and never records it.
    expect((await claimDueSilenceSummary(store.db, 1))?.id).toBe(silence.id);
    const posted = await client.chat.postMessage({ channel: '#silenced', ...buildSilenceSummary(silence, 0) });
    await new Promise((resolve) => setTimeout(resolve, 10));

    await summaries().sweep();

    expect(summariesOf(silence.id)).toHaveLength(1);
    expect(await getSilence(store.db, 'acme', silence.id)).toMatchObject({
      summaryStatus: 'posted',
      summaryTs: posted.ts,
    });
  });

  it('tries again after Slack fails, and posts once', async () => {
    const silence = await endedSilence();
    // A platform error WebClient does not retry itself, and not one a retry cannot fix.
    slack.failNext('chat.postMessage', { error: 'internal_error' });
    const worker = summaries();
    await worker.sweep();
    expect(summariesOf(silence.id)).toHaveLength(0);
    await expect
      .poll(async () => {
        await worker.sweep();
        return summariesOf(silence.id).length;
      })
      .toBe(1);
    await worker.sweep();
    expect(summariesOf(silence.id)).toHaveLength(1);
  });

  it('records a summary Slack refuses for good as failed, and does not retry it', async () => {
    const silence = await endedSilence();
    slack.failNext('chat.postMessage', { error: 'channel_not_found' });
    await summaries().sweep();
    await summaries().sweep();
    expect(summariesOf(silence.id)).toHaveLength(0);
    expect((await getSilence(store.db, 'acme', silence.id))?.summaryStatus).toBe('failed');
  });
});
