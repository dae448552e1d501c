import { sql } from 'drizzle-orm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceOptions } from '../../src/service.ts';
import { listEvents } from '../../src/store/queries.ts';
import { getSegmentImport } from '../../src/store/segment-import.ts';
import { createTestDatabase, type TestDatabase, uniqueName } from '../helpers/database.ts';
import { type AuditEventRecord, type FakeSegment, startFakeSegment } from '../helpers/fake-segment.ts';
import { publicAuditEvent, SPEC_WIRE_NAMES } from '../helpers/segment-audit.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const DAY = 86_400_000;

let database: TestDatabase;
let segment: FakeSegment;
const running: TestService[] = [];

beforeAll(async () => {
  database = await createTestDatabase();
});

afterEach(async () => {
  await Promise.all(running.splice(0).map((app) => app.stop()));
  await segment?.close();
});

afterAll(async () => {
  await database?.drop();
});

/** The scheduler role alone, importing into its own audit workspace from the fake Segment. */
async function startImport(
  workspaceId: string,
  options: ServiceOptions['segmentImport'] = {},
  env: Record<string, string> = {},
) {
  const app = await startTestService(
    database.url,
    {
      ROLES: 'scheduler',
      SEGMENT_PULL_WORKSPACE: workspaceId,
      SEGMENT_API_URL: segment.publicApiUrl,
      SEGMENT_API_TOKEN: 'sgp_test',
      SEGMENT_PULL_INTERVAL: '1s',
      ...env,
    },
    { segmentImport: { backoffBaseMs: 100, maxBackoffMs: 400, ...options } },
  );
  running.push(app);
  return app;
}

async function stopImport(app: TestService) {
  running.splice(running.indexOf(app), 1);
  await app.stop();
}

function db() {
  return running[0]!.service.database.db;
}

async function storedCount(workspaceId: string): Promise<number> {
  const [row] = await db().execute<{ n: string }>(
    sql`select count(*) as n from events where workspace_id = ${workspaceId}`,
  );
  return Number(row!.n);
}

async function importRow(workspaceId: string) {
  return getSegmentImport(db(), workspaceId);
}

function sourceEvents(n: number, from: number, to: number, prefix: string): AuditEventRecord[] {
  return Array.from({ length: n }, (_, i) =>
    publicAuditEvent({
      type: 'Source Modified',
      details: { resource_id: `${prefix}_${i}`, resource_type: 'source', subject: 'users/u1', target: `Source ${i}` },
      at: new Date(from + Math.floor(((to - from) * i) / n)),
      email: 'jane@acme.com',
    }),
  );
}

const auditRequests = () => segment.callsTo('GET /audit-events');
const metricsText = async (app: TestService) => (await fetch(`${app.url}/metrics`)).text();

describe('importing Segment’s audit trail from the Public API', () => {
  it(
    'stores every wire name of SPEC section 7 under its catalog type, ' + 'with the actor SPEC section 11 names',
    async () => {
      segment = await startFakeSegment();
      const workspaceId = uniqueName('pull');
      const now = Date.now();
      const events = SPEC_WIRE_NAMES.map(({ wire, details }, i) =>
        publicAuditEvent({
          type: wire,
          details,
          at: new Date(now - 60_000 + i * 1000),
          email: i === 0 ? 'jane@acme.com' : undefined,
        }),
      );
      events[1] = { ...events[1]!, actor: '__system__' };
      segment.addAuditEvents(events);

      await startImport(workspaceId);

      await expect.poll(() => storedCount(workspaceId), { timeout: 10_000 }).toBe(SPEC_WIRE_NAMES.length);
      const { events: stored } = await listEvents(db(), workspaceId, {}, { limit: 100 });
      for (const [i, { wire, type }] of SPEC_WIRE_NAMES.entries()) {
        const event = stored.find((e) => e.metadata?.segmentEventId === events[i]!.id);
        expect(event, wire).toMatchObject({
          id: expect.stringMatching(/^seg_[0-9a-f]{32}$/),
          type,
          timestamp: events[i]!.timestamp,
          resource: { type: events[i]!.resourceType, id: events[i]!.resourceId },
          metadata: { segmentType: wire, segmentWorkspaceId: segment.workspaceId, segmentEventId: events[i]!.id },
        });
      }
      const actorOf = (i: number) => stored.find((e) => e.metadata?.segmentEventId === events[i]!.id)?.actor;
      expect(actorOf(0)).toEqual({ type: 'user', id: 'MNxxtIRCbe', email: 'jane@acme.com' });
      expect(actorOf(1)).toEqual({ type: 'system', id: '__system__' });
      expect(actorOf(2)).toEqual({ type: 'token', id: 'MNxxtIRCbe' });
      expect(auditRequests()[0]!.headers.authorization).toBe('Bearer sgp_test');
    },
  );

  it('backfills 90 days over several pages, waiting out a 429 in the middle, and reaches no further back', async () => {
    segment = await startFakeSegment();
    const workspaceId = uniqueName('pull');
    const now = Date.now();
    const events = sourceEvents(950, now - 89 * DAY, now - 60_000, 'src_backfill');
    const tooOld = sourceEvents(1, now - 91 * DAY, now - 91 * DAY, 'src_too_old');
    segment.addAuditEvents([...events, ...tooOld]);
    segment.failNext('GET /audit-events', { status: 429, retryAfter: 1 }, { skip: 2 });

    const app = await startImport(workspaceId);

    await expect.poll(async () => (await importRow(workspaceId))?.lastPollImported, { timeout: 20_000 }).toBe(950);
    expect(await storedCount(workspaceId)).toBe(950);
    const row = (await importRow(workspaceId))!;
    expect(row).toMatchObject({
      importedCount: 950,
      lastPollResult: 'ok',
      lastErrorKind: 'rate_limited',
      segmentWorkspaceId: segment.workspaceId,
    });
    expect(row.oldestImportedAt?.toISOString()).toBe(events[0]!.timestamp);
    expect(row.newestImportedAt?.toISOString()).toBe(events.at(-1)!.timestamp);
    expect(row.watermark?.toISOString()).toBe(events.at(-1)!.timestamp);

    const requests = auditRequests();
    const first = requests[0]!;
    expect(Math.abs(Date.parse(first.query.get('startTime')!) - (now - 90 * DAY))).toBeLessThan(60_000);
    expect(first.query.get('pagination.count')).toBe('200');
    expect(first.query.has('pagination.cursor')).toBe(false);
    // The third request was answered 429; the same page was asked again once Retry-After had passed.
    expect(requests[3]!.query.get('pagination.cursor')).toBe(requests[2]!.query.get('pagination.cursor'));
    expect(requests[3]!.at - requests[2]!.at).toBeGreaterThanOrEqual(900);
    // 950 events in pages of 200: five pages, plus the one asked twice.
    expect(new Set(requests.slice(0, 6).map((r) => r.query.get('pagination.cursor'))).size).toBe(5);

    const metrics = await metricsText(app);
    expect(metrics).toContain('audit_import_events_total 950');
    expect(metrics).toContain('audit_import_errors_total{kind="rate_limited"} 1');
    expect(metrics).toContain('audit_import_errors_total{kind="unauthorized"} 0');
    expect(metrics).toMatch(/audit_import_last_success_timestamp_seconds [1-9]/);
  });

  it('resumes after a restart at the page it had reached: nothing read twice, nothing missed', async () => {
    segment = await startFakeSegment();
    const workspaceId = uniqueName('pull');
    const now = Date.now();
    const events = sourceEvents(600, now - 10 * DAY, now - 60_000, 'src_restart');
    segment.addAuditEvents(events);
    const hold = segment.hold('GET /audit-events', { after: 3 });

    const first = await startImport(workspaceId, { pageSize: 100 });
    await hold.waitUntilHeld(1, 10_000);
    expect(await storedCount(workspaceId)).toBe(300);
    const heldCursor = auditRequests()[3]!.query.get('pagination.cursor');
    await stopImport(first);
    hold.release();
    const before = auditRequests().length;

    await startImport(workspaceId, { pageSize: 100 });

    await expect
      .poll(async () => (await importRow(workspaceId))?.watermark?.toISOString(), { timeout: 20_000 })
      .toBe(events.at(-1)!.timestamp);
    const resumed = auditRequests().slice(before);
    expect(resumed[0]!.query.get('pagination.cursor')).toBe(heldCursor);
    expect(resumed.slice(0, 3).every((r) => r.query.has('pagination.cursor'))).toBe(true);
    expect(await storedCount(workspaceId)).toBe(600);
    expect((await importRow(workspaceId))?.importedCount).toBe(600);
    const ids = new Set(
      (await listEvents(db(), workspaceId, {}, { limit: 1000 })).events.map((e) => e.metadata?.segmentEventId),
    );
    expect(events.every((e) => ids.has(e.id))).toBe(true);
  });

  it(
    'shows a revoked token (401) as an error, ' + 'keeps the rest of the service up, and recovers once it is fixed',
    async () => {
      segment = await startFakeSegment();
      const workspaceId = uniqueName('pull');
      const now = Date.now();
      segment.addAuditEvents(sourceEvents(3, now - DAY, now - 120_000, 'src_token_a'));
      const app = await startImport(workspaceId, {}, { ROLES: 'scheduler,api' });
      await expect.poll(() => storedCount(workspaceId), { timeout: 10_000 }).toBe(3);

      segment.setApiToken('sgp_rotated');
      segment.addAuditEvents(sourceEvents(2, now - 60_000, now - 30_000, 'src_token_b'));

      await expect
        .poll(async () => (await importRow(workspaceId))?.lastErrorKind, { timeout: 10_000 })
        .toBe('unauthorized');
      const failed = (await importRow(workspaceId))!;
      expect(failed).toMatchObject({
        lastPollResult: 'error',
        lastError: expect.stringContaining('SEGMENT_API_TOKEN'),
      });
      expect(failed.lastError).not.toContain('sgp_test');
      expect(failed.nextPollAt!.getTime()).toBeGreaterThan(failed.lastErrorAt!.getTime());
      expect((await fetch(`${app.url}/readyz`)).status).toBe(200);
      const token = await app.token(workspaceId);
      const ingest = await fetch(`${app.url}/v1/events`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          type: 'Source Enabled',
          actor: { type: 'user', id: 'u' },
          resource: { type: 'source', id: 's' },
        }),
      });
      expect(ingest.status).toBe(201);
      await expect.poll(() => metricsText(app)).toMatch(/audit_import_errors_total\{kind="unauthorized"\} [1-9]/);

      segment.setApiToken('sgp_test');

      await expect.poll(() => storedCount(workspaceId), { timeout: 10_000 }).toBe(6);
      expect(await importRow(workspaceId)).toMatchObject({ lastPollResult: 'ok', failures: 0, importedCount: 5 });
    },
  );

  it('backs off from 5xx and 403 answers, and honours X-RateLimit-Reset on a 429 without Retry-After', async () => {
    segment = await startFakeSegment();
    const workspaceId = uniqueName('pull');
    segment.addAuditEvents(sourceEvents(2, Date.now() - DAY, Date.now() - 60_000, 'src_flaky'));
    segment.failNext('GET /audit-events', { status: 503 });
    segment.failNext('GET /audit-events', { status: 403 });
    const reset = new Date(Date.now() + 2000);
    segment.failNext('GET /audit-events', {
      status: 429,
      retryAfter: null,
      headers: { 'x-ratelimit-reset': reset.toUTCString() },
    });

    const app = await startImport(workspaceId);

    await expect.poll(() => storedCount(workspaceId), { timeout: 15_000 }).toBe(2);
    const requests = auditRequests();
    // The header has whole seconds, so Segment's reset may be up to a second before `reset`.
    const answeredAt = Date.now() - (performance.now() - requests[2]!.at);
    expect(requests[3]!.at - requests[2]!.at).toBeGreaterThanOrEqual(reset.getTime() - 1000 - answeredAt - 50);
    const metrics = await metricsText(app);
    expect(metrics).toContain('audit_import_errors_total{kind="server_error"} 1');
    expect(metrics).toContain('audit_import_errors_total{kind="forbidden"} 1');
    expect(metrics).toContain('audit_import_errors_total{kind="rate_limited"} 1');
    expect(await importRow(workspaceId)).toMatchObject({ lastPollResult: 'ok', failures: 0 });
  });

  it('reads an overlap before the watermark again, so an event Segment lists late is still imported', async () => {
    segment = await startFakeSegment();
    const workspaceId = uniqueName('pull');
    const newest = Date.now() - 30_000;
    segment.addAuditEvents(sourceEvents(3, newest - DAY, newest - DAY, 'src_on_time'));
    segment.addAuditEvents(sourceEvents(1, newest, newest, 'src_newest'));
    await startImport(workspaceId);
    await expect.poll(async () => (await importRow(workspaceId))?.lastPollImported, { timeout: 10_000 }).toBe(4);

    // Stamped two minutes before the newest event already read, but listed only now.
    segment.addAuditEvents(sourceEvents(1, newest - 120_000, newest - 120_000, 'src_late'));

    await expect.poll(() => storedCount(workspaceId), { timeout: 10_000 }).toBe(5);
    const windows = auditRequests().filter((r) => !r.query.has('pagination.cursor'));
    expect(Date.parse(windows.at(-1)!.query.get('startTime')!)).toBe(newest - 5 * 60_000);
  });

  it('lets one replica poll at a time: with two running, no page is read twice', async () => {
    segment = await startFakeSegment();
    const workspaceId = uniqueName('pull');
    segment.addAuditEvents(sourceEvents(500, Date.now() - 5 * DAY, Date.now() - 60_000, 'src_replicas'));
    segment.setDelay('GET /audit-events', 50);

    await Promise.all([startImport(workspaceId, { pageSize: 100 }), startImport(workspaceId, { pageSize: 100 })]);

    await expect.poll(async () => (await importRow(workspaceId))?.lastPollImported, { timeout: 15_000 }).toBe(500);
    expect(await storedCount(workspaceId)).toBe(500);
    const cursors = auditRequests().map((r) => `${r.query.get('startTime')} ${r.query.get('pagination.cursor')}`);
    expect(new Set(cursors).size).toBe(cursors.length);
  });
});
