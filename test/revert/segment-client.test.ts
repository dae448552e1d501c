import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createSegmentClient, SegmentApiError, type SegmentClientOptions } from '../../src/revert/segment-client.ts';
import { type FakeSegment, startFakeSegment } from '../helpers/fake-segment.ts';

let segment: FakeSegment;

beforeEach(async () => {
  segment = await startFakeSegment();
});

afterEach(async () => {
  await segment.close();
});

function client(overrides: Partial<SegmentClientOptions> = {}) {
  return createSegmentClient({ apiUrl: segment.publicApiUrl, apiToken: segment.apiToken, ...overrides });
}

/** Segment documents no Retry-After on its 429s, only a body and X-RateLimit-* headers; this strips the fake's. */
const withoutRetryAfter: typeof fetch = async (input, init) => {
  const answer = await fetch(input, init);
  const headers = new Headers(answer.headers);
  headers.delete('retry-after');
  return new Response(await answer.text(), { status: answer.status, headers });
};

/** A local URL nothing listens on: a port the OS just handed out and took back. */
async function unusedLocalUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

async function failureOf(promise: Promise<unknown>): Promise<SegmentApiError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof SegmentApiError)) throw new Error(`expected a SegmentApiError, got ${String(error)}`);
  return error;
}

describe('the Segment Public API client', () => {
  it('sends the bearer token and a JSON body, and unwraps Segment’s data envelope', async () => {
    segment.setSource({ id: 'src_1', name: 'Website', enabled: false });

    const read = await client().get('/sources/src_1');
    const patched = await client({ apiUrl: `${segment.publicApiUrl}/` }).patch('/sources/src_1', { enabled: true });

    expect(read).toMatchObject({ source: { id: 'src_1', name: 'Website', enabled: false } });
    expect(patched).toMatchObject({ source: { id: 'src_1', enabled: true } });
    const [get, patch] = segment.calls;
    expect(get).toMatchObject({ method: 'GET', path: '/sources/src_1', body: undefined });
    expect(get?.headers.authorization).toBe(`Bearer ${segment.apiToken}`);
    expect(patch).toMatchObject({ method: 'PATCH', path: '/sources/src_1', body: { enabled: true } });
    expect(patch?.headers['content-type']).toBe('application/vnd.segment.v1+json');
  });

  it('turns an error answer into a SegmentApiError carrying the status and Segment’s messages', async () => {
    segment.setTrackingPlan({ id: 'tp_1' });

    const error = await failureOf(client().patch('/tracking-plans/tp_1', { enabled: false, name: 7 }));

    expect(error).toMatchObject({
      kind: 'rejected',
      status: 422,
      method: 'PATCH',
      path: '/tracking-plans/tp_1',
      retryable: false,
    });
    expect(error.messages).toEqual([expect.stringContaining('Unknown field "enabled"'), 'Field "name" must be string']);
    expect(error.message).toBe(error.reason);
    expect(error.reason).toMatch(
      /^Segment rejected the change: Unknown field "enabled".*; Field "name" must be string \(422\)$/,
    );
  });

  it('names the path in a 404, leaving the resource’s name to the caller', async () => {
    const error = await failureOf(client().get('/warehouses/wh_missing'));
    expect(error).toMatchObject({
      kind: 'not-found',
      status: 404,
      retryable: false,
      reason: 'GET /warehouses/wh_missing not found (404): Resource not found',
    });
  });

  it('waits for Segment’s documented msBeforeNext when a 429 has no Retry-After', async () => {
    segment.setSource({ id: 'src_1' });
    segment.failNext('PATCH /sources/src_1', {
      status: 429,
      body: {
        errors: [
          {
            type: 'RequestError',
            message: 'Too many requests',
            data: { remainingPoints: 0, msBeforeNext: 300, consumedPoints: 21 },
          },
        ],
      },
    });

    await client({ fetchImpl: withoutRetryAfter }).patch('/sources/src_1', { enabled: false });

    const [limited, retried] = segment.callsTo('PATCH /sources/src_1');
    expect(retried!.at - limited!.at).toBeGreaterThanOrEqual(280);
    expect(retried!.at - limited!.at).toBeLessThan(900);
    expect(segment.getSource('src_1')?.enabled).toBe(false);
  });

  it(
    'waits up to a minute for a 429, ' + 'as long as Segment’s own example asks (msBeforeNext 57647), then succeeds',
    async () => {
      segment.setSource({ id: 'src_1' });
      const limited = (msBeforeNext: number) => ({
        status: 429,
        body: {
          errors: [
            {
              type: 'RequestError',
              message: 'Too many requests',
              data: { remainingPoints: 0, msBeforeNext, consumedPoints: 21 },
            },
          ],
        },
      });
      segment.failNext('PATCH /sources/src_1', limited(57_647));
      const waits: number[] = [];
      const sleep = async (ms: number) => void waits.push(ms);

      await client({ fetchImpl: withoutRetryAfter, sleep }).patch('/sources/src_1', { enabled: false });

      expect(waits).toEqual([57_647]);
      expect(segment.callsTo('PATCH /sources/src_1')).toHaveLength(2);
      expect(segment.getSource('src_1')?.enabled).toBe(false);
    },
  );

  it(
    'reads the wait from X-RateLimit-Reset, an RFC 5322 date, ' + 'when the 429 has neither Retry-After nor a body',
    async () => {
      segment.setSource({ id: 'src_1' });
      segment.failNext('PATCH /sources/src_1', { status: 429, body: {} });
      const reset = new Date(Date.now() + 45_000).toUTCString();
      const withReset: typeof fetch = async (input, init) => {
        const answer = await withoutRetryAfter(input, init);
        const headers = new Headers(answer.headers);
        if (answer.status === 429) headers.set('x-ratelimit-reset', reset);
        return new Response(await answer.text(), { status: answer.status, headers });
      };
      const waits: number[] = [];

      await client({ fetchImpl: withReset, sleep: async (ms) => void waits.push(ms) }).patch('/sources/src_1', {
        enabled: false,
      });

      expect(waits).toHaveLength(1);
      expect(waits[0]).toBeGreaterThan(40_000);
      expect(waits[0]).toBeLessThanOrEqual(45_000);
    },
  );

  it('backs off exponentially from one second when a 429 names no wait at all', async () => {
    segment.setSource({ id: 'src_1' });
    segment.failNext('PATCH /sources/src_1', {
      status: 429,
      body: { errors: [{ type: 'RequestError', message: 'Too many requests' }] },
    });

    await client({ fetchImpl: withoutRetryAfter }).patch('/sources/src_1', { enabled: false });

    const [limited, retried] = segment.callsTo('PATCH /sources/src_1');
    expect(retried!.at - limited!.at).toBeGreaterThanOrEqual(950);
  });

  it('gives up at once, as retryable, when a 429 asks for a longer wait than it will stall for', async () => {
    segment.setSource({ id: 'src_1' });
    segment.failNext('PATCH /sources/src_1', { status: 429, retryAfter: 120 });

    const error = await failureOf(client().patch('/sources/src_1', { enabled: false }));

    expect(error).toMatchObject({ kind: 'rate-limited', status: 429, retryable: true });
    expect(error.reason).toContain('for another 120 s');
    expect(segment.calls).toHaveLength(1);
  });

  it('times out a request that Segment does not answer, and retries it', async () => {
    segment.setSource({ id: 'src_1' });
    segment.setDelay('GET /sources/src_1', 300);

    const error = await failureOf(
      client({ timeoutMs: 100, retry: { baseDelayMs: 10, serverErrorRetries: 1 } }).get('/sources/src_1'),
    );

    expect(error).toMatchObject({ kind: 'timeout', status: undefined, retryable: true });
    expect(error.reason).toBe('Segment did not answer GET /sources/src_1 within 0.1 s (gave up after 2 attempts)');
    expect(segment.callsTo('GET /sources/src_1')).toHaveLength(2);
  });

  it('reports an unreachable Segment with the network error’s code', async () => {
    const error = await failureOf(
      client({ apiUrl: await unusedLocalUrl(), retry: { serverErrorRetries: 0 } }).get('/sources/src_1'),
    );
    expect(error).toMatchObject({
      kind: 'network',
      retryable: true,
      reason: 'could not reach Segment for GET /sources/src_1 (ECONNREFUSED)',
    });
  });
});
