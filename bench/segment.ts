/**
 * Segment's own trail: events/s the import reads from a local fake Public API (100k events in pages of 200, beside
 * how fast a bare client pages through the same fake), and events/s through POST /v1/segment beside POST /v1/events
 * on the same events in the same run.
 */
import { parseSegmentPush } from '../src/ingest/segment-push.ts';
import { startFakeSegment } from '../test/helpers/fake-segment.ts';
import { auditCall, publicAuditEvent } from '../test/helpers/segment-audit.ts';
import { createBenchDatabase, fmt, line, startServiceProcess, summarise } from './harness.ts';

const PULL_EVENTS = Number(process.env.BENCH_PULL_EVENTS ?? 100_000);
const PUSH_EVENTS = Number(process.env.BENCH_PUSH_EVENTS ?? 20_000);
const PUSH_BATCH = 500;
const CLIENTS = 4;
const DAY = 86_400_000;

export async function benchSegment(): Promise<{ pullRate: number; pushRatio: number }> {
  const pullRate = await benchPull();
  const pushRatio = await benchPush();
  return { pullRate, pushRatio };
}

export async function benchPull(): Promise<number> {
  const segment = await startFakeSegment();
  const now = Date.now();
  segment.addAuditEvents(
    Array.from({ length: PULL_EVENTS }, (_, i) =>
      publicAuditEvent({
        type: ['Warehouse Disabled', 'Integration Modified', 'Source Function Updated', 'Source Settings Modified'][
          i % 4
        ]!,
        details: {
          resource_id: `res_${i}`,
          resource_type: 'source',
          subject: `users/u${i % 50}`,
          target: `Resource ${i}`,
        },
        at: new Date(now - 89 * DAY + Math.floor((88 * DAY * i) / PULL_EVENTS)),
        email: i % 3 === 0 ? `user${i % 50}@acme.com` : undefined,
      }),
    ),
  );

  // The ceiling: a bare client paging through the same fake, storing nothing.
  const bareStarted = performance.now();
  let cursor: string | null = null;
  let read = 0;
  const startTime = new Date(now - 90 * DAY).toISOString();
  do {
    const query = new URLSearchParams({
      startTime,
      'pagination.count': '200',
      ...(cursor && { 'pagination.cursor': cursor }),
    });
    const response = await fetch(`${segment.publicApiUrl}/audit-events?${query}`, {
      headers: { authorization: `Bearer ${segment.apiToken}` },
    });
    const body = (await response.json()) as { data: { events: unknown[]; pagination: { next: string | null } } };
    read += body.data.events.length;
    cursor = body.data.pagination.next;
  } while (cursor);
  const bareSeconds = (performance.now() - bareStarted) / 1000;
  const bareRate = read / bareSeconds;
  const bareRequests = segment.callsTo('GET /audit-events').length;

  const db = await createBenchDatabase();
  const service = await startServiceProcess({
    DATABASE_URL: db.url,
    ROLES: 'scheduler',
    QUEUE_PREFIX: `benchpull${process.pid}`,
    SEGMENT_PULL_WORKSPACE: 'benchpull',
    SEGMENT_API_URL: segment.publicApiUrl,
    SEGMENT_API_TOKEN: segment.apiToken,
  });
  try {
    let rss = 0;
    for (;;) {
      const [row] = await db.sql<{ imported: string | null }[]>`
        select last_poll_imported as imported from segment_imports where workspace_id = 'benchpull'`;
      rss = Math.max(rss, service.rssMb());
      if (Number(row?.imported) >= PULL_EVENTS) break;
      const first = segment.callsTo('GET /audit-events')[bareRequests];
      if (first && performance.now() - first.at > 600_000) throw new Error('the import stalled');
      await new Promise((r) => setTimeout(r, 20));
    }
    const requests = segment.callsTo('GET /audit-events').slice(bareRequests);
    const seconds = (requests.at(-1)!.at - requests[0]!.at) / 1000;
    const rate = PULL_EVENTS / seconds;
    const [count] = await db.sql<{ n: string }[]>`select count(*) as n from events where workspace_id = 'benchpull'`;
    if (Number(count?.n) !== PULL_EVENTS) throw new Error(`stored ${count?.n} events, expected ${PULL_EVENTS}`);
    line(
      `segment  pull ${fmt(rate)} events/s imported ` +
        `(${fmt(PULL_EVENTS)} events, ${requests.length} pages of ≤ 200 from a local fake ` +
        `Public API in ${fmt(seconds, 2)} s, service RSS ${fmt(rss)} MB)`,
    );
    line(
      `         ${fmt((seconds * 1000) / requests.length, 1)} ms per page fetched and stored; ` +
        `a bare client pages the same fake in ` +
        `${fmt((bareSeconds * 1000) / bareRequests, 1)} ms (${fmt(bareRate)} events/s), so any API slower than ` +
        `${fmt((seconds * 1000) / requests.length)} ms a page sets the pace, not the import`,
    );
    return rate;
  } finally {
    await service.stop();
    await db.drop();
    await segment.close();
  }
}

export async function benchPush(): Promise<number> {
  const db = await createBenchDatabase();
  const service = await startServiceProcess({
    DATABASE_URL: db.url,
    ROLES: 'api,relay',
    QUEUE_PREFIX: `benchpush${process.pid}`,
    INGEST_TOKENS: 'pe1:bench-events-1,ps1:bench-segment-1,ps2:bench-segment-2,pe2:bench-events-2,warm:bench-warm',
  });
  try {
    const now = Date.now();
    const calls = Array.from({ length: PUSH_EVENTS }, (_, i) =>
      auditCall({
        type: ['Warehouse Disabled', 'Integration Modified', 'Source Function Updated', 'Source Settings Modified'][
          i % 4
        ]!,
        details: {
          resource_id: `res_${i}`,
          resource_type: 'warehouse',
          subject: `users/u${i % 50}`,
          target: `Resource ${i}`,
          warehouse_id: `res_${i}`,
        },
        at: new Date(now - (PUSH_EVENTS - i) * 1000),
        email: `user${i % 50}@acme.com`,
      }),
    );
    const segmentBodies: string[] = [];
    const eventBodies: string[] = [];
    for (let start = 0; start < PUSH_EVENTS; start += PUSH_BATCH) {
      const batch = calls.slice(start, start + PUSH_BATCH);
      const parsed = parseSegmentPush({ batch });
      if (!parsed.ok) throw new Error(parsed.message);
      segmentBodies.push(JSON.stringify({ batch }));
      // The very events /v1/segment stores, in /v1/events' format.
      eventBodies.push(JSON.stringify({ events: parsed.events }));
    }
    await run(service.url, '/v1/events', 'bench-warm', eventBodies.slice(0, 2), 201);
    await run(service.url, '/v1/segment', 'bench-warm', segmentBodies.slice(2, 4), 200);

    // Each path twice, in both orders, each run into its own workspace, so neither gains from going second.
    const eventsA = await run(service.url, '/v1/events', 'bench-events-1', eventBodies, 201);
    const segmentA = await run(service.url, '/v1/segment', 'bench-segment-1', segmentBodies, 200);
    const segmentB = await run(service.url, '/v1/segment', 'bench-segment-2', segmentBodies, 200);
    const eventsB = await run(service.url, '/v1/events', 'bench-events-2', eventBodies, 201);
    const eventsRate = (eventsA.rate + eventsB.rate) / 2;
    const segmentRate = (segmentA.rate + segmentB.rate) / 2;
    const ratio = segmentRate / eventsRate;
    const s = summarise([...segmentA.latencies, ...segmentB.latencies]);
    const e = summarise([...eventsA.latencies, ...eventsB.latencies]);
    const bytes = (bodies: string[]) => bodies.reduce((sum, body) => sum + body.length, 0) / PUSH_EVENTS;
    line(
      `segment  push /v1/segment ${fmt(segmentRate)} events/s vs /v1/events ${fmt(eventsRate)} events/s ` +
        `on the same ${fmt(PUSH_EVENTS)} events ` +
        `(batches of ${PUSH_BATCH}, ${CLIENTS} clients, each run twice): ratio ${fmt(ratio, 2)}× (goal ≥ 0.9×)`,
    );
    line(
      `         batch p50/p95 ${fmt(s.p50)}/${fmt(s.p95)} ms vs ${fmt(e.p50)}/${fmt(e.p95)} ms; ` +
        `${fmt(bytes(segmentBodies))} vs ${fmt(bytes(eventBodies))} bytes per event on the wire`,
    );
    return ratio;
  } finally {
    await service.stop();
    await db.drop();
  }
}

async function run(url: string, path: string, token: string, bodies: string[], expected: number) {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const t0 = performance.now();
        const response = await fetch(`${url}${path}`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body,
        });
        if (response.status !== expected)
          throw new Error(`${path} answered ${response.status}: ${await response.text()}`);
        await response.arrayBuffer();
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return { rate: (bodies.length * PUSH_BATCH) / ((performance.now() - started) / 1000), latencies };
}
