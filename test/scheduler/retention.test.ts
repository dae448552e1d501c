import { QueueEvents } from 'bullmq';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAINTENANCE_QUEUE, RETENTION_JOB, RETENTION_SCHEDULER_ID } from '../../src/queue/names.ts';
import { RETENTION_CRON } from '../../src/scheduler/retention.ts';
import { verifyChain } from '../../src/store/verify.ts';
import { createTestDatabase, redisUrl, type TestDatabase } from '../helpers/database.ts';
import { postEvents, sampleEvent, startTestService, type TestService } from '../helpers/service.ts';

let database: TestDatabase;
let app: TestService;

beforeAll(async () => {
  database = await createTestDatabase();
  app = await startTestService(database.url, { ROLES: 'api,scheduler', RETENTION_DAYS: '30' });
});

afterAll(async () => {
  await app?.stop();
  await database?.drop();
});

describe('the retention scheduler', () => {
  it('registers one daily purge job, however many replicas start', async () => {
    const second = await startTestService(database.url, {
      ROLES: 'scheduler',
      QUEUE_PREFIX: app.service.config.queuePrefix,
    });
    await second.service.stop();
    const schedulers = await app.service.queues.maintenance.getJobSchedulers();
    expect(schedulers).toHaveLength(1);
    expect(schedulers[0]).toMatchObject({ key: RETENTION_SCHEDULER_ID, pattern: RETENTION_CRON });
  });

  it('purges events older than RETENTION_DAYS when the job runs, and verify stays green', async () => {
    const token = await app.token('retained');
    expect((await postEvents(app.url, token, { events: Array.from({ length: 12 }, () => sampleEvent()) })).status).toBe(
      201,
    );
    await app.service.database.db.execute(
      sql`update events set received_at = now() - interval '31 days' where workspace_id = 'retained' and seq <= 7`,
    );

    const events = new QueueEvents(MAINTENANCE_QUEUE, {
      connection: { url: redisUrl() },
      prefix: app.service.config.queuePrefix,
    });
    await events.waitUntilReady();
    const job = await app.service.queues.maintenance.add(RETENTION_JOB, {});
    const result = await job.waitUntilFinished(events, 15_000);
    await events.close();

    expect(result).toEqual({ purged: 7 });
    expect(await verifyChain(app.service.database.db, 'retained')).toMatchObject({ ok: true, count: 5 });
  });
});
