import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { turnForwardingOn } from '../../src/forwarding/settings.ts';
import { trackMessageId } from '../../src/forwarding/track-call.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { type FakeSegment, startFakeSegment } from '../helpers/fake-segment.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import {
  getEvents,
  logCapture,
  postEvents,
  sampleEvent,
  startTestService,
  type TestService,
} from '../helpers/service.ts';
import { postToSlackEndpoint, slackEnv, slashCommandBody } from '../helpers/slack-requests.ts';

let database: TestDatabase;
let slack: FakeSlack;
let segment: FakeSegment;
let app: TestService;
const logs = logCapture();
const OWNER = 'U0OWNER1';
const STRANGER = 'U0STRANGER';
const BATCH_ROUTE = 'POST /v1/batch';
/** Every write key a test uses: none may ever appear in full in a Slack answer or the log. */
const keysUsed: string[] = [];
/** Everything the service answered in Slack, immediate and via response_url. */
const answers: unknown[] = [];

/** One Slack team per test, each mapped to its own audit workspace, so tests do not see each other's events. */
const TEAMS = [
  'T0NEW',
  'T0SINCE',
  'T0OFF',
  'T0STATUS',
  'T0SIZE',
  'T0RETRY',
  'T0AUTH',
  'T0REFUSE',
  'T0DENIED',
  'T0NUL',
  'T0TWINA',
  'T0TWINB',
  'T0CODES',
] as const;
type Team = (typeof TEAMS)[number];
const workspaceOf = (team: Team) => `ws_${team.slice(2).toLowerCase()}`;

function writeKey(label: string): string {
  const key = `wk${label}${'Q7zR2mXe9vLp4Tn8'.slice(0, 30 - label.length)}k${keysUsed.length}Zx`;
  keysUsed.push(key);
  return key;
}
const last4 = (key: string) => `…${key.slice(-4)}`;
const basic = (key: string) => `Basic ${Buffer.from(`${key}:`).toString('base64')}`;

beforeAll(async () => {
  database = await createTestDatabase();
  slack = await startFakeSlack();
  segment = await startFakeSegment();
  app = await startTestService(
    database.url,
    {
      ...slackEnv(slack, { owners: OWNER, teams: TEAMS.map((team) => `${team}:${workspaceOf(team)}`).join(',') }),
      SEGMENT_TRACKING_URL: segment.trackingUrl,
    },
    {
      logStream: logs.stream,
      forwarding: { sweepIntervalMs: 50, backoffBaseMs: 40, maxBackoffMs: 400, stopGraceMs: 200 },
    },
  );
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  await segment?.close();
  await database?.drop();
});

let n = 0;
/**
 * Runs `/audit <text>` as Slack would and returns the answer the user sees (the immediate one, or the one posted
 * later).
 */
async function audit(team: Team, text: string, userId = OWNER): Promise<string> {
  const id = `r${++n}`;
  const response = await postToSlackEndpoint(
    app.url,
    slashCommandBody({ text, userId, teamId: team, responseUrl: slack.responseUrl(id) }),
  );
  expect(response.status).toBe(200);
  const raw = await response.text();
  const immediate = raw ? (JSON.parse(raw) as { text?: string }) : undefined;
  if (immediate) answers.push(immediate);
  if (immediate?.text) return JSON.stringify(immediate);
  await expect.poll(() => slack.responses(id).length, { timeout: 10_000 }).toBeGreaterThan(0);
  const later = slack.responses(id).at(-1)!.body;
  answers.push(later);
  return JSON.stringify(later);
}

async function ingest(team: Team, events: unknown[]): Promise<string[]> {
  const token = await app.token(workspaceOf(team));
  const response = await postEvents(app.url, token, { events });
  expect(response.status).toBe(201);
  return ((await response.json()) as { ids: string[] }).ids;
}

async function storedEvents(team: Team, query: string) {
  const token = await app.token(workspaceOf(team));
  const body = (await (await getEvents(app.url, token, query)).json()) as {
    events: {
      id: string;
      seq: number;
      type: string;
      actor: { id: string };
      resource: { type: string; id: string; name?: string };
      metadata: Record<string, unknown> | null;
    }[];
  };
  return body.events;
}

const tracked = (key: string) =>
  segment.trackedEvents(key) as {
    type: string;
    event: string;
    userId: string;
    messageId: string;
    timestamp: string;
    properties: Record<string, unknown>;
    context: Record<string, unknown>;
  }[];
/** The stored event ids the calls carry (properties.eventId), in the order Segment received them. */
const forwardedIds = (key: string) => tracked(key).map((call) => call.properties.eventId as string);

async function deliveredSeq(workspaceId: string): Promise<number> {
  const rows = await app.service.database.db.execute<{ delivered_seq: string }>(
    sql`select delivered_seq from forwarding where workspace_id = ${workspaceId}`,
  );
  return Number(rows[0]?.delivered_seq ?? -1);
}

async function headSeq(workspaceId: string): Promise<number> {
  const rows = await app.service.database.db.execute<{ seq: string }>(
    sql`select seq from chain_heads where workspace_id = ${workspaceId}`,
  );
  return Number(rows[0]?.seq ?? 0);
}

async function metricsText(): Promise<string> {
  return (await fetch(`${app.url}/metrics`)).text();
}

/** audit_forwarding_{events,batches}_total{outcome="failed"}: counters this file's tests add to in turn. */
async function failedCount(what: 'events' | 'batches'): Promise<number> {
  const match = new RegExp(`^audit_forwarding_${what}_total\\{outcome="failed"\\} (\\d+)$`, 'm').exec(
    await metricsText(),
  );
  return Number(match?.[1] ?? Number.NaN);
}

describe('/audit forward on', () => {
  it(
    'sends every new event as a track call with basic auth and a messageId from workspace and id, ' +
      'and none stored before it',
    async () => {
      const key = writeKey('new');
      const before = await ingest('T0NEW', [sampleEvent(), sampleEvent(), sampleEvent()]);

      const answer = await audit('T0NEW', `forward on ${key} Audit source`);
      expect(answer).toContain('Audit forwarding is on');
      expect(answer).toContain(last4(key));
      expect(answer).toContain('not sent');
      const after = await ingest('T0NEW', [
        sampleEvent({
          type: 'Source Deleted',
          actor: { type: 'token', id: 'tok_1', name: 'CI' },
          resource: { type: 'source', id: 'src_9', name: 'Web' },
          context: { ip: '203.0.113.7' },
          metadata: { ticket: 'OPS-1' },
        }),
        sampleEvent(),
      ]);

      await expect.poll(() => tracked(key).length, { timeout: 10_000 }).toBe(3);
      const [toggle, deleted] = tracked(key);
      expect(toggle).toMatchObject({
        type: 'track',
        event: 'Audit Forwarding Enabled',
        userId: OWNER,
        properties: {
          resource: { type: 'audit_forwarding', id: workspaceOf('T0NEW'), name: 'Audit source' },
          metadata: { writeKey: last4(key) },
          category: 'Other',
        },
      });
      const [stored] = await storedEvents('T0NEW', '?type=Source%20Deleted');
      expect(deleted).toEqual({
        type: 'track',
        event: 'Source Deleted',
        userId: 'tok_1',
        messageId: trackMessageId(workspaceOf('T0NEW'), after[0]!),
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        properties: {
          actor: { type: 'token', id: 'tok_1', name: 'CI' },
          resource: { type: 'source', id: 'src_9', name: 'Web' },
          changes: { before: { enabled: true }, after: { enabled: false } },
          context: { ip: '203.0.113.7' },
          metadata: { ticket: 'OPS-1' },
          category: 'Source',
          workspace: workspaceOf('T0NEW'),
          eventId: after[0],
        },
        context: { library: { name: 'audit-trail' } },
      });
      expect(stored?.id).toBe(after[0]);
      expect(forwardedIds(key)).toEqual([toggle!.properties.eventId, ...after]);
      for (const id of before) expect(forwardedIds(key)).not.toContain(id);

      const posts = segment.callsTo(BATCH_ROUTE).filter((call) => call.headers.authorization === basic(key));
      expect(posts.length).toBeGreaterThan(0);
      for (const post of posts) {
        expect(post.headers['content-type']).toMatch(/^application\/json/);
        expect(post.body).toMatchObject({ batch: expect.any(Array), sentAt: expect.any(String) });
      }
    },
  );

  it('backfills the events received since a time when asked with --since, oldest first', async () => {
    const key = writeKey('since');
    const before = await ingest('T0SINCE', [sampleEvent(), sampleEvent(), sampleEvent(), sampleEvent()]);
    const answer = await audit('T0SINCE', `forward on ${key} --since 1h`);
    expect(answer).toContain('Backfill: 4 stored events');

    await expect.poll(() => tracked(key).length, { timeout: 10_000 }).toBe(5);
    expect(forwardedIds(key).slice(0, 4)).toEqual(before);
    expect(tracked(key)[4]).toMatchObject({
      event: 'Audit Forwarding Enabled',
      properties: { metadata: { since: expect.any(String) } },
    });
  });

  it('refuses a write key that cannot be one, without quoting it', async () => {
    const answer = await audit('T0NEW', 'forward on short1');
    expect(answer).toContain('too short');
    expect(answer).not.toContain('short1');
    expect(await storedEvents('T0NEW', '?type=Audit%20Forwarding%20Enabled')).toHaveLength(1);
  });
});

describe('/audit forward with text Postgres cannot store', () => {
  it('turns forwarding on and records the toggle when the source name holds NUL, escaped', async () => {
    const key = writeKey('nul');
    const answer = await audit('T0NUL', `forward on ${key} Com\u0000pliance`);
    expect(answer).toContain('Audit forwarding is on');
    const [enabled] = await storedEvents('T0NUL', '?type=Audit%20Forwarding%20Enabled');
    expect(enabled).toMatchObject({ actor: { id: OWNER }, resource: { name: 'Com\\u0000pliance' } });
    expect(await audit('T0NUL', 'forward status')).toContain('Com\\\\u0000pliance');
    expect(await audit('T0NUL', 'forward off')).toContain('Audit forwarding is off');
  });
});

describe('/audit forward off', () => {
  it('stops delivery, and both toggles are recorded as audit events with the owner as actor', async () => {
    const key = writeKey('off');
    await audit('T0OFF', `forward on ${key}`);
    const [sent] = await ingest('T0OFF', [sampleEvent()]);
    await expect.poll(() => forwardedIds(key), { timeout: 10_000 }).toContain(sent);

    expect(await audit('T0OFF', 'forward off')).toContain('Audit forwarding is off');
    const unsent = await ingest('T0OFF', [sampleEvent(), sampleEvent()]);
    await new Promise((resolve) => setTimeout(resolve, 500)); // ten sweeps
    expect(forwardedIds(key)).toHaveLength(2);
    for (const id of unsent) expect(forwardedIds(key)).not.toContain(id);
    expect(await audit('T0OFF', 'forward off')).toContain('already off');

    const [enabled] = await storedEvents('T0OFF', '?type=Audit%20Forwarding%20Enabled');
    const [disabled] = await storedEvents('T0OFF', '?type=Audit%20Forwarding%20Disabled');
    for (const toggle of [enabled, disabled]) {
      expect(toggle).toMatchObject({
        actor: { id: OWNER },
        resource: { type: 'audit_forwarding', id: workspaceOf('T0OFF') },
        metadata: { writeKey: last4(key) },
      });
    }
    expect(await storedEvents('T0OFF', '?type=Audit%20Forwarding%20Disabled')).toHaveLength(1);
    // The disabled event was stored after forwarding stopped, so it is not sent either.
    expect(forwardedIds(key)).not.toContain(disabled!.id);

    const status = await audit('T0OFF', 'forward status');
    expect(status).toContain('Audit forwarding is off');
  });
});

describe('/audit forward status', () => {
  it('shows state, destination by the last 4 characters of the key, deliveries, lag and what is not sent', async () => {
    const key = writeKey('status');
    expect(await audit('T0STATUS', 'forward status')).toContain('never been turned on');
    await audit('T0STATUS', `forward on ${key} Compliance <!channel>`);
    await expect.poll(() => tracked(key).length, { timeout: 10_000 }).toBe(1);
    const hold = segment.hold(BATCH_ROUTE);
    await ingest('T0STATUS', [sampleEvent(), sampleEvent()]);
    await hold.waitUntilHeld(1);
    const lagging = await audit('T0STATUS', 'forward status');
    expect(lagging).toMatch(/Lag: 2 events not yet delivered, the oldest received \d+ s ago/);
    await expect.poll(() => metricsText()).toMatch(/^audit_forwarding_pending_events 2$/m);
    hold.release();
    await expect
      .poll(() => deliveredSeq(workspaceOf('T0STATUS')), { timeout: 10_000 })
      .toBe(await headSeq(workspaceOf('T0STATUS')));

    const status = await audit('T0STATUS', 'forward status');
    expect(status).toContain('Audit forwarding is on');
    expect(status).toContain(`write key \`${last4(key)}\``);
    expect(status).toContain('Compliance &lt;!channel&gt;');
    expect(status).toContain(`<@${OWNER}>`);
    expect(status).toContain('3 events delivered');
    expect(status).toContain('Lag: none');
    expect(status).toContain('Failed: none');
    expect(status).toContain('Events stored while forwarding was off are not sent');
    expect(status).not.toContain(key);
  });
});

describe('delivery', () => {
  it(
    'keeps every batch under 500 KB and every call under 32 KB, ' + 'trimming an oversized event and saying so',
    async () => {
      const key = writeKey('size');
      await audit('T0SIZE', `forward on ${key}`);
      const many = await ingest(
        'T0SIZE',
        Array.from({ length: 900 }, () => sampleEvent({ metadata: { note: 'x'.repeat(200) } })),
      );
      // Near the 32 KB ingest limit: as track calls (with the workspace, category and envelope added) these pass 32 KB.
      const big = await ingest(
        'T0SIZE',
        Array.from({ length: 16 }, (_, i) =>
          sampleEvent({
            changes: { before: { code: 'b'.repeat(20_000 + i) } },
            metadata: { blob: 'm'.repeat(11_900) },
          }),
        ),
      );
      const fits = await ingest(
        'T0SIZE',
        Array.from({ length: 8 }, () => sampleEvent({ metadata: { blob: 'f'.repeat(30_000) } })),
      );

      await expect.poll(() => tracked(key).length, { timeout: 15_000 }).toBe(1 + 900 + 16 + 8);
      expect(forwardedIds(key).slice(1)).toEqual([...many, ...big, ...fits]);
      const batches = segment.batches(key);
      expect(batches.length).toBeGreaterThan(2);
      for (const batch of batches) {
        expect(Buffer.byteLength(JSON.stringify(batch.body))).toBeLessThan(500 * 1024);
        expect(batch.body.batch.length).toBeLessThanOrEqual(500);
        for (const call of batch.body.batch) expect(Buffer.byteLength(JSON.stringify(call))).toBeLessThan(32_000);
      }
      const bigCalls = tracked(key).filter((call) => big.includes(call.properties.eventId as string));
      for (const call of bigCalls) {
        expect(call.properties).toMatchObject({
          auditTrailTrimmed: ['changes'],
          changes: { trimmed: true, bytes: expect.any(Number) },
          metadata: { blob: 'm'.repeat(11_900) },
        });
      }
      for (const call of tracked(key).filter((c) => fits.includes(c.properties.eventId as string))) {
        expect(call.properties.auditTrailTrimmed).toBeUndefined();
        expect(call.properties.metadata).toEqual({ blob: 'f'.repeat(30_000) });
      }
      // The fake records a batch before its answer reaches the forwarder, which then commits the cursor.
      await expect
        .poll(() => deliveredSeq(workspaceOf('T0SIZE')), { timeout: 10_000 })
        .toBe(await headSeq(workspaceOf('T0SIZE')));
    },
  );

  it('gives equal event ids of two workspaces different messageIds, so Segment keeps both', async () => {
    const [keyA, keyB] = [writeKey('twina'), writeKey('twinb')];
    await audit('T0TWINA', `forward on ${keyA}`);
    await audit('T0TWINB', `forward on ${keyB}`);
    await ingest('T0TWINA', [sampleEvent({ id: 'evt_twin' })]);
    await ingest('T0TWINB', [sampleEvent({ id: 'evt_twin' })]);

    await expect.poll(() => tracked(keyA).length + tracked(keyB).length, { timeout: 10_000 }).toBe(4);
    const twins = [...segment.keptEvents(keyA), ...segment.keptEvents(keyB)].filter(
      (call) => (call.properties as { eventId?: string }).eventId === 'evt_twin',
    );
    expect(twins).toHaveLength(2);
    const [a, b] = twins.map((call) => call.messageId as string);
    expect(a).not.toBe(b);
    for (const messageId of [a!, b!]) expect(messageId.length).toBeLessThanOrEqual(100);
    // Stable: the same workspace and id always give the same messageId, so a resend is still de-duplicated.
    expect(a).toBe(trackMessageId(workspaceOf('T0TWINA'), 'evt_twin'));
  });

  it('retries a 429 after its Retry-After and a 503 with backoff, then delivers each event once', async () => {
    const key = writeKey('retry');
    segment.failNext(BATCH_ROUTE, { status: 429, retryAfter: 1 });
    segment.failNext(BATCH_ROUTE, { status: 503 });
    await audit('T0RETRY', `forward on ${key}`);
    const posted = await ingest('T0RETRY', [sampleEvent(), sampleEvent()]);

    await expect.poll(() => forwardedIds(key).length, { timeout: 10_000 }).toBe(3);
    await expect
      .poll(() => deliveredSeq(workspaceOf('T0RETRY')), { timeout: 10_000 })
      .toBe(await headSeq(workspaceOf('T0RETRY')));
    const attempts = segment.callsTo(BATCH_ROUTE).filter((call) => call.headers.authorization === basic(key));
    expect(attempts.length).toBeGreaterThanOrEqual(3);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(950);
    expect(new Set(forwardedIds(key)).size).toBe(3);
    expect(forwardedIds(key)).toEqual(expect.arrayContaining(posted));
    await expect.poll(() => metricsText()).toMatch(/audit_forwarding_batches_total\{outcome="retried"\} [2-9]/);
    const status = await audit('T0RETRY', 'forward status');
    expect(status).toContain('Failed: none');
  });

  it('records a batch whose write key Segment refuses (401) as failed, saying to check the key, and carries on', async () => {
    const key = writeKey('auth');
    segment.failNext(BATCH_ROUTE, { status: 401, body: { success: false, message: 'Invalid write key' } });
    await audit('T0AUTH', `forward on ${key}`);
    // The toggle's own audit event was the refused batch; delivery moved past it.
    await expect
      .poll(() => deliveredSeq(workspaceOf('T0AUTH')), { timeout: 10_000 })
      .toBe(await headSeq(workspaceOf('T0AUTH')));
    expect(segment.callsTo(BATCH_ROUTE).filter((call) => call.headers.authorization === basic(key))).toHaveLength(1);
    const rows = await app.service.database.db.execute<{ failed_count: string }>(
      sql`select failed_count from forwarding where workspace_id = ${workspaceOf('T0AUTH')}`,
    );
    expect(Number(rows[0]!.failed_count)).toBe(1);
    expect(await audit('T0AUTH', 'forward status')).toContain("check the source's write key");
  });

  it(
    'records a batch Segment refuses with a 400 as failed, ' + 'shows it in status and metrics, and carries on',
    async () => {
      const key = writeKey('refuse');
      const failedBefore = { events: await failedCount('events'), batches: await failedCount('batches') };
      await audit('T0REFUSE', `forward on ${key}`);
      await expect.poll(() => forwardedIds(key).length, { timeout: 10_000 }).toBe(1);
      segment.failNext(BATCH_ROUTE, { status: 400, body: { success: false, message: 'Invalid JSON in batch' } });
      const refused = await ingest('T0REFUSE', [sampleEvent(), sampleEvent(), sampleEvent()]);
      await expect
        .poll(() => deliveredSeq(workspaceOf('T0REFUSE')), { timeout: 10_000 })
        .toBe(await headSeq(workspaceOf('T0REFUSE')));
      const later = await ingest('T0REFUSE', [sampleEvent(), sampleEvent()]);

      await expect.poll(() => forwardedIds(key).length, { timeout: 10_000 }).toBe(3);
      await expect
        .poll(() => deliveredSeq(workspaceOf('T0REFUSE')), { timeout: 10_000 })
        .toBe(await headSeq(workspaceOf('T0REFUSE')));
      expect(forwardedIds(key).slice(1)).toEqual(later);
      for (const id of refused) expect(forwardedIds(key)).not.toContain(id);
      const status = await audit('T0REFUSE', 'forward status');
      expect(status).toContain('Failed: 1 batch (3 events) refused by Segment');
      expect(status).toContain('400 Invalid JSON in batch');
      expect(status).toContain('3 events delivered');
      const failures = await app.service.database.db.execute<{
        from_seq: string;
        to_seq: string;
        status: number;
        reason: string;
      }>(
        sql`select from_seq, to_seq, status, reason from forwarding_failures
          where workspace_id = ${workspaceOf('T0REFUSE')}`,
      );
      expect(failures).toHaveLength(1);
      expect(Number(failures[0]!.to_seq) - Number(failures[0]!.from_seq)).toBe(2);
      expect(await failedCount('events')).toBe(failedBefore.events + 3);
      expect(await failedCount('batches')).toBe(failedBefore.batches + 1);
    },
  );

  it(
    'retries 408, 410 and 460 as Segment’s analytics-node does, ' + 'and records a 501 as failed and moves on',
    async () => {
      // After the 400 test: the failure metrics that one checks count this 501 too.
      const key = writeKey('codes');
      await audit('T0CODES', `forward on ${key}`);
      await expect.poll(() => forwardedIds(key).length, { timeout: 10_000 }).toBe(1);
      for (const status of [408, 410, 460]) segment.failNext(BATCH_ROUTE, { status });
      const kept = await ingest('T0CODES', [sampleEvent(), sampleEvent()]);
      await expect.poll(() => forwardedIds(key).slice(1), { timeout: 10_000 }).toEqual(kept);
      await expect
        .poll(() => deliveredSeq(workspaceOf('T0CODES')), { timeout: 10_000 })
        .toBe(await headSeq(workspaceOf('T0CODES')));

      segment.failNext(BATCH_ROUTE, { status: 501 });
      const refused = await ingest('T0CODES', [sampleEvent()]);
      await expect
        .poll(() => deliveredSeq(workspaceOf('T0CODES')), { timeout: 10_000 })
        .toBe(await headSeq(workspaceOf('T0CODES')));
      const later = await ingest('T0CODES', [sampleEvent()]);
      await expect.poll(() => forwardedIds(key).slice(3), { timeout: 10_000 }).toEqual(later);
      expect(forwardedIds(key)).not.toContain(refused[0]);
      const failures = await app.service.database.db.execute<{ status: number }>(
        sql`select status from forwarding_failures where workspace_id = ${workspaceOf('T0CODES')}`,
      );
      expect(failures.map((row) => row.status)).toEqual([501]);
    },
  );
});

describe('retention', () => {
  it('skips events purged before they could be sent, and carries on with the next ones', async () => {
    const key = writeKey('purge');
    const { db } = app.service.database;
    await turnForwardingOn(db, { workspaceId: 'ws_purge', writeKey: key, actor: { type: 'user', id: OWNER } });
    await expect.poll(() => forwardedIds(key).length, { timeout: 10_000 }).toBe(1);
    await db.execute(sql`update forwarding set enabled = false where workspace_id = 'ws_purge'`);
    const token = await app.token('ws_purge');
    expect((await postEvents(app.url, token, { events: [sampleEvent(), sampleEvent()] })).status).toBe(201);
    await db.execute(sql`delete from events where workspace_id = 'ws_purge' and seq > 1`);
    await db.execute(sql`update forwarding set enabled = true where workspace_id = 'ws_purge'`);

    await expect.poll(() => deliveredSeq('ws_purge'), { timeout: 10_000 }).toBe(3);
    const [next] = ((await (await postEvents(app.url, token, sampleEvent())).json()) as { ids: string[] }).ids;
    await expect.poll(() => forwardedIds(key), { timeout: 10_000 }).toEqual([expect.any(String), next]);
    expect(
      logs.lines.some(
        (line) =>
          line.msg === 'events purged by retention before they were forwarded' && line.workspaceId === 'ws_purge',
      ),
    ).toBe(true);
  });
});

describe('write keys', () => {
  it('masks the write key of a refused forward command in the audit trail', async () => {
    const key = writeKey('denied');
    const answer = await audit('T0DENIED', `forward on ${key} Stolen`, STRANGER);
    expect(answer).toContain('Only audit owners');
    await expect.poll(async () => (await storedEvents('T0DENIED', '?type=Audit%20Access%20Denied')).length).toBe(1);
    const [denied] = await storedEvents('T0DENIED', '?type=Audit%20Access%20Denied');
    expect(denied!.metadata).toMatchObject({ detail: `forward on ${last4(key)} Stolen` });
    expect(JSON.stringify(denied)).not.toContain(key);
  });

  it('never shows a full write key in a Slack answer or writes one to the log', async () => {
    expect(keysUsed.length).toBeGreaterThan(5);
    expect(answers.length).toBeGreaterThan(10);
    expect(logs.lines.length).toBeGreaterThan(0);
    const everything = JSON.stringify(answers) + JSON.stringify(slack.responses()) + JSON.stringify(logs.lines);
    for (const key of keysUsed) expect(everything).not.toContain(key);
  });
});

describe('a restart in the middle of a backlog', () => {
  it('resends nothing Segment acknowledged and loses nothing pending', async () => {
    const own = await createTestDatabase();
    const key = writeKey('restart');
    const env = { SEGMENT_TRACKING_URL: segment.trackingUrl, ROLES: 'api,worker' };
    const options = { forwarding: { sweepIntervalMs: 50, maxBatchEvents: 100, stopGraceMs: 100 } };
    let first: TestService | undefined = await startTestService(own.url, env, options);
    let second: TestService | undefined;
    try {
      await turnForwardingOn(first.service.database.db, {
        workspaceId: 'ws_restart',
        writeKey: key,
        actor: { type: 'user', id: OWNER },
      });
      await expect.poll(() => segment.batches(key).length, { timeout: 10_000 }).toBe(1);
      segment.setDelay(BATCH_ROUTE, 60);
      const token = await first.token('ws_restart');
      const response = await postEvents(first.url, token, {
        events: Array.from({ length: 1000 }, () => sampleEvent()),
      });
      expect(response.status).toBe(201);

      await expect.poll(() => segment.batches(key).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(4);
      const hold = segment.hold(BATCH_ROUTE);
      await hold.waitUntilHeld(1);
      await first.stop();
      first = undefined;
      const idOf = (call: Record<string, unknown>) => (call.properties as { eventId: string }).eventId;
      const acknowledged = segment.batches(key).flatMap((batch) => batch.body.batch.map(idOf));
      const inFlight = (segment.callsTo(BATCH_ROUTE).at(-1)!.body as { batch: Record<string, unknown>[] }).batch.map(
        idOf,
      );
      expect(acknowledged.length).toBeGreaterThan(1);
      expect(acknowledged.length).toBeLessThan(1001);

      segment.setDelay(BATCH_ROUTE, 0);
      second = await startTestService(own.url, env, options);
      // Segment answers the abandoned request after all: the one window messageId de-duplication covers.
      hold.release();
      const stored = await second.service.database.db.execute<{ id: string }>(
        sql`select id from events where workspace_id = 'ws_restart' order by seq`,
      );
      expect(stored).toHaveLength(1001);
      await expect.poll(() => new Set(forwardedIds(key)).size, { timeout: 15_000 }).toBe(1001);

      const sent = forwardedIds(key);
      const times = new Map<string, number>();
      for (const id of sent) times.set(id, (times.get(id) ?? 0) + 1);
      for (const id of acknowledged) expect(times.get(id), `acknowledged ${id} was sent again`).toBe(1);
      for (const [id, count] of times) if (count > 1) expect(inFlight).toContain(id);
      expect(new Set(sent)).toEqual(new Set(stored.map((row) => row.id)));
    } finally {
      await first?.stop();
      await second?.stop();
      await own.drop();
    }
  });
});
