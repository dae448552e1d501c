import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import webApi from '@slack/web-api';
import { Queue, type Worker } from 'bullmq';
import { eq } from 'drizzle-orm';
import { loadRuleSet } from '../../src/alerting/rule-loader.ts';
import { SlackAlertSender } from '../../src/alerting/slack-sender.ts';
import { createAlertWorker } from '../../src/alerting/worker.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics.ts';
import { createRedis } from '../../src/queue/connection.ts';
import { ALERT_RANGE_JOB, AUDIT_EVENTS_QUEUE, type AlertRangeJob } from '../../src/queue/names.ts';
import { getAlert } from '../../src/store/alerts.ts';
import { appendEventsTx } from '../../src/store/append.ts';
import { prepareOutbox } from '../../src/store/cursors.ts';
import { createDb, type Database } from '../../src/store/db.ts';
import { alertProgress } from '../../src/store/schema/index.ts';
import { createSlackClient } from '../../src/slack/client.ts';
import { createTestDatabase, deleteRedisPrefix, redisUrl, uniqueName, type TestDatabase } from '../helpers/database.ts';
import { startFakeSlack, type FakeSlack } from '../helpers/fake-slack.ts';
import { rulesDir } from '../helpers/rules-dir.ts';

// Not a name Node's ESM loader detects in this CommonJS package.
const { retryPolicies } = webApi;

const silent = createLogger('silent');
const rules = rulesDir({
  'disabled.yml': 'when: { type: [Warehouses Disabled] }\nchannel: "#ranges"\nseverity: info\n',
});
const prefix = uniqueName('ranges');
let database: TestDatabase;
let store: Database;
let slack: FakeSlack;
let queue: Queue<AlertRangeJob>;
let worker: Worker<AlertRangeJob>;
const redis = () => createRedis(redisUrl(), 'worker');

beforeAll(async () => {
  database = await createTestDatabase();
  store = createDb(database.url);
  slack = await startFakeSlack();
  const client = createSlackClient(slack.botToken, slack.url, silent, { retryConfig: retryPolicies.rapidRetryPolicy });
  const metrics = createMetrics();
  worker = createAlertWorker({
    db: store.db,
    connection: redis(),
    stateRedis: redis(),
    prefix,
    rules: await loadRuleSet(rules.dir),
    sender: new SlackAlertSender(client, silent, metrics, { minIntervalMs: 1 }),
    revertEnabled: false,
    alertMaxAgeMs: 3_600_000,
    logger: silent,
    metrics,
  });
  queue = new Queue<AlertRangeJob>(AUDIT_EVENTS_QUEUE, { connection: redis(), prefix });
});

afterAll(async () => {
  await worker?.close();
  await queue?.close();
  await deleteRedisPrefix(prefix);
  await slack?.close();
  await store?.close();
  await database?.drop();
  rules.remove();
});

async function watermark(workspaceId: string): Promise<number | undefined> {
  const [row] = await store.db
    .select({ seq: alertProgress.alertedSeq })
    .from(alertProgress)
    .where(eq(alertProgress.workspaceId, workspaceId));
  return row?.seq;
}

const disabled = (id: string) => ({
  id,
  type: 'Warehouses Disabled',
  actor: { type: 'user' as const, id: 'usr_1' },
  resource: { type: 'warehouse', id: `wh_${id}` },
});

describe('an alert range whose post keeps failing', () => {
  it('holds the watermark while retries remain, and moves it past the range after the last attempt', async () => {
    await appendEventsTx(store.db, 'giving-up', [disabled('g1'), disabled('g2'), disabled('g3')]);
    await prepareOutbox(store.db, 'giving-up');
    const range = { workspaceId: 'giving-up', fromSeq: 1, toSeq: 3 };

    // Slack fails the first post of each attempt; a retry is due only in a minute.
    slack.failNext('chat.postMessage', { error: 'internal_error' });
    const retrying = await queue.add(ALERT_RANGE_JOB, range, {
      jobId: 'retrying',
      attempts: 2,
      backoff: { type: 'fixed', delay: 60_000 },
    });
    await expect.poll(() => retrying.getState(), { timeout: 10_000 }).toBe('delayed');
    expect(await watermark('giving-up')).toBe(0);
    await retrying.remove();

    slack.failNext('chat.postMessage', { error: 'internal_error' });
    const last = await queue.add(ALERT_RANGE_JOB, range, { jobId: 'last', attempts: 1 });
    await expect.poll(() => last.getState(), { timeout: 10_000 }).toBe('failed');
    expect(await watermark('giving-up')).toBe(3);
    // The alert that never went out keeps its error for an operator to see.
    const failing = await Promise.all(
      ['g1', 'g2', 'g3'].map((eventId) =>
        getAlert(store.db, { workspaceId: 'giving-up', eventId, ruleId: 'disabled' }),
      ),
    );
    expect(failing.filter((alert) => alert?.status === 'pending').map((alert) => alert?.error)).toEqual([
      expect.stringContaining('internal_error'),
    ]);
  });
});
