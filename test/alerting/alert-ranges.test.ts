import { Queue, type Worker } from 'bullmq';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRuleSet } from '../../src/alerting/rule-loader.ts';
import { createAlertWorker } from '../../src/alerting/worker.ts';
import { createLogger } from '../../src/logger.ts';
import { createMetrics } from '../../src/metrics.ts';
import { createRedis } from '../../src/queue/connection.ts';
import { ALERT_RANGE_JOB, type AlertRangeJob, AUDIT_EVENTS_QUEUE } from '../../src/queue/names.ts';
import { getAlert } from '../../src/store/alerts.ts';
import { appendEventsTx } from '../../src/store/append.ts';
import { prepareOutbox } from '../../src/store/cursors.ts';
import { createDb, type Database } from '../../src/store/db.ts';
import { alertProgress } from '../../src/store/schema/index.ts';
import { createTestDatabase, deleteRedisPrefix, redisUrl, type TestDatabase, uniqueName } from '../helpers/database.ts';
import { rulesDir } from '../helpers/rules-dir.ts';

const silent = createLogger('silent');
// A threshold, so evaluating an event needs the window state in Redis: the worker's state Redis is one that does not
// answer, so every evaluation fails the way a real outage would fail it.
const rules = rulesDir({
  'disabled.yml':
    'when: { type: [Warehouses Disabled] }\nthreshold: { count: 2, within: 10m, by: actor.id }\n' +
    'channel: "#ranges"\nseverity: info\n',
});
const prefix = uniqueName('ranges');
let database: TestDatabase;
let store: Database;
let queue: Queue<AlertRangeJob>;
let worker: Worker<AlertRangeJob>;
const redis = () => createRedis(redisUrl(), 'worker');
/** Nothing listens on port 1; a producer connection fails each command at once instead of waiting to reconnect. */
const unreachable = createRedis('redis://127.0.0.1:1', 'producer');

beforeAll(async () => {
  database = await createTestDatabase();
  store = createDb(database.url);
  const metrics = createMetrics();
  worker = createAlertWorker({
    db: store.db,
    connection: redis(),
    stateRedis: unreachable,
    prefix,
    rules: await loadRuleSet(rules.dir),
    dispatcher: undefined,
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
  unreachable.disconnect();
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

describe('an alert range whose evaluation keeps failing', () => {
  it('holds the watermark while retries remain, and moves it past the range after the last attempt', async () => {
    await appendEventsTx(store.db, 'giving-up', [disabled('g1'), disabled('g2'), disabled('g3')]);
    await prepareOutbox(store.db, 'giving-up');
    const range = { workspaceId: 'giving-up', fromSeq: 1, toSeq: 3 };

    // Every attempt fails (the window state is out of reach); a retry is due only in a minute.
    const retrying = await queue.add(ALERT_RANGE_JOB, range, {
      jobId: 'retrying',
      attempts: 2,
      backoff: { type: 'fixed', delay: 60_000 },
    });
    await expect.poll(() => retrying.getState(), { timeout: 10_000 }).toBe('delayed');
    expect(await watermark('giving-up')).toBe(0);
    await retrying.remove();

    const last = await queue.add(ALERT_RANGE_JOB, range, { jobId: 'last', attempts: 1 });
    await expect.poll(() => last.getState(), { timeout: 10_000 }).toBe('failed');
    expect(await watermark('giving-up')).toBe(3);
    // Nothing was claimed: the events never got through the rules, and the failed job says why for an operator.
    expect(await getAlert(store.db, { workspaceId: 'giving-up', eventId: 'g2', ruleId: 'disabled' })).toBeUndefined();
    expect((await queue.getJob('last'))?.failedReason).toBeTruthy();
  });
});
