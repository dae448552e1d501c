import { createPublicKey } from 'node:crypto';
import { type Job, Queue, QueueEvents } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDigestPayload, statementSignedBy } from '../../src/digest/digest.ts';
import { generateSigningKeyPair } from '../../src/digest/keys.ts';
import { turnForwardingOn } from '../../src/forwarding/settings.ts';
import { DIGEST_JOB, DIGEST_QUEUE, DIGEST_SCHEDULER_ID } from '../../src/queue/names.ts';
import { DIGEST_CRON } from '../../src/scheduler/digest.ts';
import { chainAnchors } from '../../src/store/anchors.ts';
import { createTestDatabase, redisUrl, type TestDatabase } from '../helpers/database.ts';
import { type FakeSegment, startFakeSegment } from '../helpers/fake-segment.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { logCapture, postEvents, sampleEvent, startTestService, type TestService } from '../helpers/service.ts';

let database: TestDatabase;
let slack: FakeSlack;
let segment: FakeSegment;
let app: TestService;
let queue: Queue;
let queueEvents: QueueEvents;
const logs = logCapture();
const key = generateSigningKeyPair();
const CHANNEL = '#chain-digests';
const WRITE_KEY = 'digestWriteKey0001';

const env = () => ({
  SLACK_BOT_TOKEN: slack.botToken,
  SLACK_API_URL: slack.url,
  DIGEST_CHANNEL: CHANNEL,
  DIGEST_SIGNING_KEY: key.privateKeyPem,
  SEGMENT_TRACKING_URL: segment.trackingUrl,
});
// One client retry, so a Slack outage reaches the job's own retry quickly; short job backoff; no pacing.
const options = {
  slackRetryConfig: { retries: 1, minTimeout: 0, maxTimeout: 1 },
  digests: { backoffMs: 100, minIntervalMs: 0 },
};

beforeAll(async () => {
  database = await createTestDatabase();
  slack = await startFakeSlack();
  segment = await startFakeSegment();
  const withLogs = { ...options, logStream: logs.stream };
  app = await startTestService(database.url, { ROLES: 'api,scheduler', ...env() }, withLogs);
  const prefix = app.service.config.queuePrefix;
  queue = new Queue(DIGEST_QUEUE, { connection: { url: redisUrl() }, prefix });
  queueEvents = new QueueEvents(DIGEST_QUEUE, { connection: { url: redisUrl() }, prefix });
  await queueEvents.waitUntilReady();
  for (const workspaceId of ['alpha', 'beta']) {
    const token = await app.token(workspaceId);
    const response = await postEvents(app.url, token, { events: [sampleEvent(), sampleEvent()] });
    expect(response.status).toBe(201);
  }
});

afterAll(async () => {
  await queueEvents?.close();
  await queue?.close();
  await app?.stop();
  await slack?.close();
  await segment?.close();
  await database?.drop();
});

/** Runs the day's job now: the job scheduler keeps one delayed job for the next 00:05 UTC, promoted here. */
async function runDailyJob(): Promise<Job> {
  const delayed = await queue.getDelayed();
  expect(delayed.map((job) => job.name)).toEqual([DIGEST_JOB]);
  const job = delayed[0]!;
  await job.promote();
  return job;
}

async function metric(name: string, labels = ''): Promise<number> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

function digestMessages() {
  return slack.messages(CHANNEL).filter((m) => m.metadata?.event_type === 'audit_digest');
}

describe('the daily chain digest', () => {
  it('is one job at 00:05 UTC however many scheduler replicas run, and runs once', async () => {
    const replica = { ROLES: 'scheduler', QUEUE_PREFIX: app.service.config.queuePrefix, ...env() };
    const second = await startTestService(database.url, replica, options);
    try {
      const schedulers = await queue.getJobSchedulers();
      expect(schedulers).toHaveLength(1);
      expect(schedulers[0]).toMatchObject({ key: DIGEST_SCHEDULER_ID, pattern: DIGEST_CRON, tz: 'UTC' });
      const [next] = await queue.getDelayed();
      const runsAt = new Date(next!.timestamp + next!.delay);
      expect([runsAt.getUTCHours(), runsAt.getUTCMinutes()]).toEqual([0, 5]);

      const job = await runDailyJob();
      await job.waitUntilFinished(queueEvents, 15_000);
      // Give the other replica's worker every chance to run a second copy, then count.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const posted = digestMessages();
      expect(posted.map((m) => m.metadata!.event_payload.workspace_id).sort()).toEqual(['alpha', 'beta']);
      const counts = await queue.getJobCounts('active', 'wait', 'completed', 'delayed');
      expect(counts).toEqual({ active: 0, wait: 0, completed: 1, delayed: 1 });
      const scraped =
        (await app.service.metrics.registry.getSingleMetricAsString('audit_digest_posts_total')) +
        (await second.service.metrics.registry.getSingleMetricAsString('audit_digest_posts_total'));
      const postedCounts = scraped.match(/outcome="posted"} (\d+)/g)?.map((m) => Number(m.split(' ')[1]));
      expect(postedCounts?.reduce((a, b) => a + b)).toBe(2);
    } finally {
      await second.service.stop(5000);
    }
  });

  it('signs what the chain holds: each digest verifies with the public key and names the head', async () => {
    const publicKey = createPublicKey(key.publicKeyPem);
    const anchors = await chainAnchors(app.service.database.db);
    for (const message of digestMessages()) {
      const parsed = parseDigestPayload(message.metadata!.event_payload);
      if (!parsed.ok) throw new Error(parsed.problem);
      const anchor = anchors.find((a) => a.workspaceId === parsed.digest.head.workspaceId)!;
      expect(parsed.digest.head).toMatchObject({ seq: anchor.headSeq, hash: anchor.headHash });
      expect(statementSignedBy(parsed.digest.head, parsed.digest.signature, publicKey)).toBe(true);
      const [head, signer] = [anchor.headHash.slice(0, 8), key.fingerprint.slice(0, 8)];
      expect(message.text).toBe(`${anchor.workspaceId}: 2 events, head ${head}…, signed key ${signer}…`);
    }
  });

  it('waits out a 429 from Slack and posts', async () => {
    const before = digestMessages().length;
    const calls = slack.callsTo('chat.postMessage').length;
    slack.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
    const job = await runDailyJob();
    await job.waitUntilFinished(queueEvents, 15_000);
    expect(digestMessages().length - before).toBe(2);
    const tries = slack.callsTo('chat.postMessage').slice(calls);
    expect(tries).toHaveLength(3);
    expect(tries[1]!.at - tries[0]!.at).toBeGreaterThanOrEqual(990);
    expect(await metric('audit_digest_rate_limited_total')).toBe(1);
  });

  it('retries the job when Slack is down, posting only the digests that did not go out', async () => {
    const before = digestMessages().length;
    let first = true;
    // Slack takes the first post, then fails the next one through both of the client's tries.
    slack.afterHandled('chat.postMessage', () => {
      if (!first) return;
      first = false;
      slack.failNext('chat.postMessage', { status: 503 });
      slack.failNext('chat.postMessage', { status: 503 });
    });
    try {
      const job = await runDailyJob();
      await job.waitUntilFinished(queueEvents, 15_000);
      const run = await queue.getJob(job.id!);
      expect(run!.attemptsMade).toBe(2);
    } finally {
      slack.afterHandled('chat.postMessage', undefined);
    }
    const posted = digestMessages().slice(before);
    expect(posted.map((m) => m.metadata!.event_payload.workspace_id).sort()).toEqual(['alpha', 'beta']);
    expect(await metric('audit_digest_posts_total', '{outcome="retried"}')).toBe(1);
  });

  it('reports not_in_channel clearly, counts it, and does not retry', async () => {
    const before = digestMessages().length;
    const failedBefore = await metric('audit_digest_posts_total', '{outcome="failed"}');
    slack.failNext('chat.postMessage', { error: 'not_in_channel' });
    const job = await runDailyJob();
    await expect(job.waitUntilFinished(queueEvents, 15_000)).rejects.toThrow(
      /not_in_channel for DIGEST_CHANNEL #chain-digests: invite the app/,
    );
    expect(digestMessages().length).toBe(before);
    expect((await queue.getJob(job.id!))!.attemptsMade).toBe(1);
    expect((await metric('audit_digest_posts_total', '{outcome="failed"}')) - failedBefore).toBe(2);
    expect(await metric('audit_slack_errors_total', '{method="chat.postMessage",error="not_in_channel"}')).toBe(1);
    const hint = 'invite the app to it (/invite @audit-trail)';
    const logged = logs.lines.filter((l) => l.level === 50 && String(l.msg).includes(hint));
    expect(logged).toHaveLength(1);
  });

  it('stays off, saying why at start, when only one of DIGEST_CHANNEL and DIGEST_SIGNING_KEY is set', async () => {
    const halves = [
      ['DIGEST_CHANNEL', 'DIGEST_SIGNING_KEY'],
      ['DIGEST_SIGNING_KEY', 'DIGEST_CHANNEL'],
    ] as const;
    for (const [only, missing] of halves) {
      const captured = logCapture();
      const halfEnv = { ROLES: 'scheduler', ...env(), [missing]: '' };
      const half = await startTestService(database.url, halfEnv, { logStream: captured.stream });
      try {
        const line = captured.lines.find((l) => l.level === 40 && String(l.msg).startsWith(only));
        expect(line?.msg).toBe(`${only} is set but ${missing} is not: signed chain digests are off`);
        const prefix = half.service.config.queuePrefix;
        const own = new Queue(DIGEST_QUEUE, { connection: { url: redisUrl() }, prefix });
        expect(await own.getJobSchedulers()).toEqual([]);
        await own.close();
        // The key never reaches the log, whatever else is logged at start.
        expect(JSON.stringify(captured.lines)).not.toContain(key.privateKeyPem.split('\n')[1]);
      } finally {
        await half.stop();
      }
    }
  });

  it('forwards the digest to Segment when forwarding is on, without adding to the chain', async () => {
    const owner = { type: 'user' as const, id: 'U0OWNER' };
    await turnForwardingOn(app.service.database.db, { workspaceId: 'alpha', writeKey: WRITE_KEY, actor: owner });
    const [alphaBefore] = await chainAnchors(app.service.database.db, 'alpha');
    const job = await runDailyJob();
    await job.waitUntilFinished(queueEvents, 15_000);
    const [alphaAfter] = await chainAnchors(app.service.database.db, 'alpha');
    expect(alphaAfter!.headSeq).toBe(alphaBefore!.headSeq);

    const forwarded = segment.trackedEvents(WRITE_KEY).filter((call) => call.event === 'Audit Digest');
    expect(forwarded).toHaveLength(1);
    const posted = digestMessages()
      .filter((m) => m.metadata!.event_payload.workspace_id === 'alpha')
      .at(-1)!;
    expect(forwarded[0]!.properties).toEqual(posted.metadata!.event_payload);
    expect(forwarded[0]!.properties).toMatchObject({ seq: alphaBefore!.headSeq, hash: alphaBefore!.headHash });
    expect(await metric('audit_digest_forwards_total', '{outcome="delivered"}')).toBe(1);
  });
});
