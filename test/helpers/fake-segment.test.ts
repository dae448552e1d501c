import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeSegment, startFakeSegment } from './fake-segment.ts';

let segment: FakeSegment;

beforeEach(async () => {
  segment = await startFakeSegment();
});

afterEach(async () => {
  await segment.close();
});

function publicApi(path: string, init: { method?: string; body?: unknown; token?: string } = {}): Promise<Response> {
  return fetch(`${segment.publicApiUrl}${path}`, {
    method: init.method ?? 'GET',
    headers: {
      authorization: `Bearer ${init.token ?? segment.apiToken}`,
      accept: 'application/vnd.segment.v1+json',
      ...(init.body === undefined ? {} : { 'content-type': 'application/vnd.segment.v1+json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
}

function trackBatch(batch: unknown[], writeKey = 'wk_live'): Promise<Response> {
  return fetch(`${segment.trackingUrl}/batch`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({ batch }),
  });
}

describe('the fake Segment Public API', () => {
  it('serves a source and re-enables it with a PATCH, answering in Segment’s data envelope', async () => {
    segment.setSource({ id: 'src_1', name: 'Website', enabled: false });

    const read = await publicApi('/sources/src_1');
    expect(read.status).toBe(200);
    expect(await read.json()).toMatchObject({
      data: { source: { id: 'src_1', name: 'Website', enabled: false, writeKeys: [] } },
    });

    const patched = await publicApi('/sources/src_1', { method: 'PATCH', body: { enabled: true } });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ data: { source: { id: 'src_1', enabled: true } } });
    expect(segment.getSource('src_1')?.enabled).toBe(true);
    expect(segment.callsTo('PATCH /sources/src_1')[0]?.body).toEqual({ enabled: true });
  });

  it('refuses a request without the Public API token', async () => {
    segment.setDestination({ id: 'dst_1' });
    const answer = await publicApi('/destinations/dst_1', { token: 'wrong' });
    expect(answer.status).toBe(401);
    expect(await answer.json()).toEqual({ errors: [expect.objectContaining({ type: 'unauthorized' })] });
  });

  it('refuses a warehouse PATCH without settings, and takes one carrying the settings from a GET', async () => {
    segment.setWarehouse({ id: 'wh_1', enabled: false, settings: { name: 'Prod Snowflake', database: 'PROD' } });

    const bare = await publicApi('/warehouses/wh_1', { method: 'PATCH', body: { enabled: true } });
    expect(bare.status).toBe(422);
    expect(segment.getWarehouse('wh_1')?.enabled).toBe(false);

    const { data } = (await (await publicApi('/warehouses/wh_1')).json()) as {
      data: { warehouse: { settings: unknown } };
    };
    const patched = await publicApi('/warehouses/wh_1', {
      method: 'PATCH',
      body: { enabled: true, settings: data.warehouse.settings },
    });
    expect(patched.status).toBe(200);
    expect(segment.getWarehouse('wh_1')).toMatchObject({
      enabled: true,
      settings: { name: 'Prod Snowflake', database: 'PROD' },
    });
  });

  it('patches a destination filter under its destination', async () => {
    segment.setFilter('dst_1', { id: 'flt_1', if: 'event = "A"', enabled: true });

    const answer = await publicApi('/destination/dst_1/filters/flt_1', {
      method: 'PATCH',
      body: { if: 'event = "B"', title: 'Drop B' },
    });

    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({
      data: { filter: { id: 'flt_1', destinationId: 'dst_1', if: 'event = "B"', title: 'Drop B' } },
    });
    expect((await publicApi('/destination/dst_2/filters/flt_1')).status).toBe(404);
  });

  it('restores a function’s and a tracking plan’s fields', async () => {
    segment.setFunction({ id: 'fn_1', code: 'new()', displayName: 'New' });
    segment.setTrackingPlan({ id: 'tp_1', name: 'New name' });

    const fn = await publicApi('/functions/fn_1', {
      method: 'PATCH',
      body: { code: 'old()', displayName: 'Old', settings: [] },
    });
    const plan = await publicApi('/tracking-plans/tp_1', {
      method: 'PATCH',
      body: { name: 'Old name', description: 'was' },
    });

    expect(await fn.json()).toMatchObject({ data: { function: { id: 'fn_1', code: 'old()', displayName: 'Old' } } });
    expect(await plan.json()).toMatchObject({
      data: { trackingPlan: { id: 'tp_1', name: 'Old name', description: 'was' } },
    });
  });

  it('refuses fields a resource does not take, and an empty PATCH', async () => {
    segment.setTrackingPlan({ id: 'tp_1' });

    const unknown = await publicApi('/tracking-plans/tp_1', { method: 'PATCH', body: { enabled: false } });
    expect(unknown.status).toBe(422);
    expect(await unknown.json()).toEqual({
      errors: [expect.objectContaining({ type: 'validation', message: expect.stringContaining('"enabled"') })],
    });

    expect((await publicApi('/tracking-plans/tp_1', { method: 'PATCH', body: {} })).status).toBe(422);
  });

  it('answers 404 for a resource it does not hold', async () => {
    const answer = await publicApi('/sources/missing');
    expect(answer.status).toBe(404);
    expect(await answer.json()).toEqual({ errors: [expect.objectContaining({ type: 'not-found' })] });
  });

  it('answers a scripted 429 with Retry-After once, then the real answer', async () => {
    segment.setSource({ id: 'src_1' });
    segment.failNext('PATCH /sources/src_1', { status: 429, retryAfter: 3 });

    const limited = await publicApi('/sources/src_1', { method: 'PATCH', body: { enabled: false } });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3');
    expect(segment.getSource('src_1')?.enabled).toBe(true);

    const retried = await publicApi('/sources/src_1', { method: 'PATCH', body: { enabled: false } });
    expect(retried.status).toBe(200);
    expect(segment.callsTo('PATCH /sources/src_1')).toHaveLength(2);
  });

  it('answers scripted 5xx and 4xx failures only for the route they were scripted for', async () => {
    segment.setSource({ id: 'src_1' });
    segment.setDestination({ id: 'dst_1' });
    segment.failNext('/destinations', { status: 503 });
    segment.failNext('GET /sources/src_1', {
      status: 403,
      body: { errors: [{ type: 'forbidden', message: 'no access' }] },
    });

    expect((await publicApi('/sources/src_1', { method: 'PATCH', body: { name: 'x' } })).status).toBe(200);
    expect((await publicApi('/destinations/dst_1')).status).toBe(503);
    const forbidden = await publicApi('/sources/src_1');
    expect(forbidden.status).toBe(403);
    expect(await forbidden.json()).toEqual({ errors: [{ type: 'forbidden', message: 'no access' }] });
  });

  it('holds requests until released, so two reverts can overlap', async () => {
    segment.setSource({ id: 'src_1' });
    const gate = segment.hold('PATCH /sources/src_1');

    const patches = [true, false].map((enabled) => publicApi('/sources/src_1', { method: 'PATCH', body: { enabled } }));
    await gate.waitUntilHeld(2);
    gate.release();

    expect((await Promise.all(patches)).map((r) => r.status)).toEqual([200, 200]);
  });
});

describe('the fake Segment Tracking API', () => {
  const track = (id: string) => ({
    type: 'track',
    event: 'Warehouses Disabled',
    userId: 'usr_1',
    messageId: id,
    properties: {},
  });

  it('accepts a batch with the write key as basic-auth user and records it', async () => {
    const answer = await trackBatch([track('evt_1'), track('evt_2')]);

    expect(answer.status).toBe(200);
    expect(await answer.json()).toEqual({ success: true });
    expect(segment.batches('wk_live')).toHaveLength(1);
    expect(segment.trackedEvents().map((e) => e.messageId)).toEqual(['evt_1', 'evt_2']);
    expect(segment.callsTo('POST /v1/batch')[0]?.api).toBe('tracking');
  });

  it('refuses a batch over 500 KB and an event over 32 KB with 400', async () => {
    const big = (id: string, bytes: number) => ({ ...track(id), properties: { blob: 'x'.repeat(bytes) } });

    const oversizedEvent = await trackBatch([big('evt_1', 33 * 1024)]);
    expect(oversizedEvent.status).toBe(400);
    const oversizedBatch = await trackBatch(Array.from({ length: 20 }, (_, i) => big(`evt_${i}`, 30 * 1024)));
    expect(oversizedBatch.status).toBe(400);
    expect(segment.batches()).toEqual([]);
  });

  it('refuses a batch without a write key', async () => {
    const answer = await fetch(`${segment.trackingUrl}/batch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ batch: [track('evt_1')] }),
    });
    expect(answer.status).toBe(401);
  });

  it('answers scripted failures, 429 with Retry-After', async () => {
    segment.failNext('POST /v1/batch', { status: 503 });
    segment.failNext('POST /v1/batch', { status: 429, retryAfter: 2 });

    expect((await trackBatch([track('evt_1')])).status).toBe(503);
    const limited = await trackBatch([track('evt_1')]);
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect((await trackBatch([track('evt_1')])).status).toBe(200);
    expect(segment.batches()).toHaveLength(1);
  });
});

describe('the fake Segment audit trail (GET /audit-events)', () => {
  const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();
  const record = (id: string, minutesAgo: number) => ({
    id,
    timestamp: at(minutesAgo),
    type: 'Source Disabled',
    actor: 'usr_1',
    resourceId: `src_${id}`,
    resourceType: 'source',
    resourceName: 'Web',
  });
  const page = async (query: string) => {
    const response = await publicApi(`/audit-events?${query}`);
    return {
      status: response.status,
      body: (await response.json()) as {
        data: { events: { id: string }[]; pagination: { next: string | null; totalEntries: number } };
      },
    };
  };

  it('names the token’s workspace at GET /', async () => {
    expect(await (await publicApi('/')).json()).toEqual({
      data: { workspace: { id: segment.workspaceId, slug: 'acme', name: 'Acme' } },
    });
  });

  it(
    'pages newest first from startTime, ' + 'with a cursor that pins the end so new events do not shift the pages',
    async () => {
      segment.addAuditEvents([record('a', 50), record('b', 40), record('c', 30), record('d', 20), record('old', 120)]);
      const first = await page(`startTime=${encodeURIComponent(at(60))}&pagination.count=2`);
      expect(first.body.data.events.map((e) => e.id)).toEqual(['d', 'c']);
      expect(first.body.data.pagination.totalEntries).toBe(4);

      segment.addAuditEvents([record('new', 1), record('late', 35)]);
      const cursor = first.body.data.pagination.next!;
      const second = await page(
        `startTime=${encodeURIComponent(at(60))}&pagination.count=2&pagination.cursor=${cursor}`,
      );
      expect(second.body.data.events.map((e) => e.id)).toEqual(['late', 'b']);
      const third = await page(
        `startTime=${encodeURIComponent(at(60))}&pagination.count=2` +
          `&pagination.cursor=${second.body.data.pagination.next}`,
      );
      expect(third.body.data.events.map((e) => e.id)).toEqual(['a']);
      expect(third.body.data.pagination.next).toBeNull();
    },
  );

  it('refuses a page over 200 events and a forged cursor', async () => {
    expect((await page('pagination.count=201')).status).toBe(422);
    expect((await page('pagination.count=10&pagination.cursor=bm9wZQ')).status).toBe(400);
  });

  it('refuses a revoked token until another is accepted, and scripts a 429 without Retry-After', async () => {
    segment.setApiToken('sgp_new');
    expect((await publicApi('/audit-events?pagination.count=1', { token: 'sgp_test' })).status).toBe(401);
    expect((await publicApi('/audit-events?pagination.count=1', { token: 'sgp_new' })).status).toBe(200);
    segment.failNext(
      'GET /audit-events',
      { status: 429, retryAfter: null, headers: { 'x-ratelimit-reset': 'Wed, 25 Nov 2026 10:00:00 GMT' } },
      { skip: 1 },
    );
    expect((await publicApi('/audit-events?pagination.count=1', { token: 'sgp_new' })).status).toBe(200);
    const limited = await publicApi('/audit-events?pagination.count=1', { token: 'sgp_new' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBeNull();
    expect(limited.headers.get('x-ratelimit-reset')).toBe('Wed, 25 Nov 2026 10:00:00 GMT');
  });
});
