/** Ingest: events/s through POST /v1/events against the same rows by raw INSERT … SELECT. */
import { parseIngestBody } from '../src/http/event-body.ts';
import { withCatalogType } from '../src/ingest/catalog-type.ts';
import { EventAppender } from '../src/store/append.ts';
import { createDb } from '../src/store/db.ts';
import {
  cpuSeconds,
  createBenchDatabase,
  fmt,
  line,
  postgresCpuSeconds,
  startServiceProcess,
  summarise,
} from './harness.ts';

const TOTAL = 30_000;
const BATCH = 500;
const CLIENTS = 4;

function makeEvent(i: number) {
  return {
    id: `bench_${i}`,
    type: ['Source Modified', 'Warehouses Disabled', 'Integrations Enabled', 'Tracking Plan Modified'][i % 4],
    timestamp: new Date(Date.now() - (TOTAL - i) * 1000).toISOString(),
    actor: { type: 'user', id: `usr_${i % 50}`, name: `User ${i % 50}`, email: `user${i % 50}@acme.com` },
    resource: { type: 'source', id: `src_${i % 400}`, name: `Source ${i % 400}` },
    changes: { before: { enabled: true, name: `old ${i}` }, after: { enabled: false, name: `new ${i}` } },
    context: { ip: '203.0.113.7', userAgent: 'bench/1.0' },
    metadata: { requestId: `req_${i}` },
  };
}

export async function benchIngest(): Promise<{ ratio: number }> {
  const db = await createBenchDatabase();
  const service = await startServiceProcess({
    DATABASE_URL: db.url,
    ROLES: process.env.BENCH_ROLES ?? 'api,relay',
    INGEST_TOKENS: 'bench:bench-token-1',
    QUEUE_PREFIX: `bench${process.pid}`,
  });
  try {
    const bodies = Array.from({ length: TOTAL / BATCH }, (_, b) =>
      JSON.stringify({ events: Array.from({ length: BATCH }, (_, i) => makeEvent(b * BATCH + i)) }),
    );
    // Warm-up: one batch of another id, so connection set-up is not timed; checked, as a refused one warms nothing.
    const warmup = await fetch(`${service.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: 'Bearer bench-token-1', 'content-type': 'application/json' },
      body: JSON.stringify({ events: [{ ...makeEvent(0), id: 'warmup' }] }),
    });
    if (warmup.status !== 201) throw new Error(`warm-up answered ${warmup.status}: ${await warmup.text()}`);
    const latencies: number[] = [];
    let next = 0;
    const cpuBefore = { service: cpuSeconds(service.pid), postgres: postgresCpuSeconds(), bench: process.cpuUsage() };
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < bodies.length) {
          const body = bodies[next++]!;
          const t0 = performance.now();
          const response = await fetch(`${service.url}/v1/events`, {
            method: 'POST',
            headers: { authorization: 'Bearer bench-token-1', 'content-type': 'application/json' },
            body,
          });
          if (response.status !== 201) throw new Error(`ingest answered ${response.status}: ${await response.text()}`);
          await response.arrayBuffer();
          latencies.push(performance.now() - t0);
        }
      }),
    );
    const apiSeconds = (performance.now() - started) / 1000;
    const apiRate = TOTAL / apiSeconds;
    const benchCpu = process.cpuUsage(cpuBefore.bench);
    const cpu = {
      service: cpuSeconds(service.pid) - cpuBefore.service,
      postgres: postgresCpuSeconds() - cpuBefore.postgres,
      clients: (benchCpu.user + benchCpu.system) / 1e6,
    };

    await db.sql`create table bench_raw (like events including all)`;
    const rawStarted = performance.now();
    await db.sql`insert into bench_raw select * from events where workspace_id = 'bench' and id like 'bench_%'`;
    const rawSeconds = (performance.now() - rawStarted) / 1000;
    const rawRate = TOTAL / rawSeconds;

    const aloneSeconds = await storeAlone(db.url, bodies);
    const aloneRate = TOTAL / aloneSeconds;

    const s = summarise(latencies);
    const ratio = apiRate / rawRate;
    line(
      `ingest   API ${fmt(apiRate)} events/s ` +
        `(${TOTAL} events, batches of ${BATCH}, ${CLIENTS} clients, ${fmt(apiSeconds, 2)} s)`,
    );
    line(`         raw INSERT … SELECT ${fmt(rawRate)} rows/s (${fmt(rawSeconds, 2)} s)`);
    line(
      `         store alone ${fmt(aloneRate)} events/s ` +
        `(${fmt(aloneSeconds, 2)} s, ${fmt(aloneRate / rawRate, 2)}× raw): ` +
        'the same batches validated beforehand and appended in this process, no HTTP; the most one chain allows',
    );
    line(
      `         ratio ${fmt(ratio, 2)}× raw (goal ≥ 0.5×)   ` +
        `batch latency p50 ${fmt(s.p50)} ms  p95 ${fmt(s.p95)} ms  p99 ${fmt(s.p99)} ms  max ${fmt(s.max)} ms`,
    );
    line(
      `         CPU during the API run (2 cores, ${fmt(apiSeconds * 2, 1)} core-s available): ` +
        `service ${fmt(cpu.service, 2)} s, Postgres ${fmt(cpu.postgres, 2)} s, ` +
        `load clients ${fmt(cpu.clients, 2)} s = ` +
        `${fmt((1e6 * (cpu.service + cpu.postgres + cpu.clients)) / TOTAL)} µs per event`,
    );
    return { ratio };
  } finally {
    await service.stop();
    await db.drop();
  }
}

/**
 * The same batches, validated before the clock starts, appended by the service's group commit in this process (same
 * concurrency, another workspace): what storing costs with nothing else to do. One workspace's events go through its
 * hash chain one group at a time, so this is the ceiling of the API run on one workspace, whatever the service does.
 */
async function storeAlone(url: string, bodies: string[]): Promise<number> {
  const database = createDb(url);
  try {
    const appender = new EventAppender(database.db);
    const batches = bodies.map((body) => parseIngestBody(JSON.parse(body)));
    await appender.append('bench-alone', [{ ...makeEvent(0), id: 'warmup' }] as never);
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async () => {
        while (next < batches.length) {
          const { events, known } = batches[next++]!;
          await appender.append('bench-alone', events.map(withCatalogType), known);
        }
      }),
    );
    return (performance.now() - started) / 1000;
  } finally {
    await database.close();
  }
}
