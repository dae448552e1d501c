/** Query: latency of filtered first pages of GET /v1/events over 1M stored events. */
import { createBenchDatabase, fmt, line, startServiceProcess, summarise } from './harness.ts';
import { seedEvents } from './seed.ts';

const ROWS = Number(process.env.BENCH_QUERY_ROWS ?? 1_000_000);
const ROUNDS = 30;

export async function benchQuery(): Promise<{ p95: number }> {
  const db = await createBenchDatabase();
  const seedStarted = performance.now();
  await seedEvents(db.sql, 'query', ROWS);
  line(`query    seeded ${fmt(ROWS)} events in ${fmt((performance.now() - seedStarted) / 1000, 1)} s`);
  const service = await startServiceProcess({
    DATABASE_URL: db.url,
    ROLES: 'api',
    INGEST_TOKENS: 'query:query-token-1',
    QUEUE_PREFIX: `bench${process.pid}`,
  });
  try {
    const filters = [
      '',
      '?type=Warehouses%20Disabled',
      '?type=Source%20Deleted&type=Source%20Disabled',
      '?category=Warehouses',
      '?actor=usr_17',
      '?actor=user42%40acme.com',
      '?actorType=system',
      '?resourceType=warehouse',
      '?resourceId=res_4242',
      '?resourceType=source&actorType=token',
      '?since=30d&until=7d',
      '?type=User%20Removed&since=60d',
      '?limit=1000',
    ];
    const all: number[] = [];
    const byFilter = new Map<string, number[]>();
    for (let round = 0; round < ROUNDS; round++) {
      for (const filter of filters) {
        const t0 = performance.now();
        const response = await fetch(`${service.url}/v1/events${filter}`, {
          headers: { authorization: 'Bearer query-token-1' },
        });
        await response.arrayBuffer();
        if (response.status !== 200) throw new Error(`${filter} answered ${response.status}`);
        const ms = performance.now() - t0;
        if (round === 0) continue; // first round warms plans and caches
        all.push(ms);
        byFilter.set(filter, [...(byFilter.get(filter) ?? []), ms]);
      }
    }
    const s = summarise(all);
    line(
      `query    first pages over ${fmt(ROWS)} events, ${filters.length} filters × ${ROUNDS - 1} rounds: ` +
        `p50 ${fmt(s.p50, 1)} ms  p95 ${fmt(s.p95, 1)} ms  p99 ${fmt(s.p99, 1)} ms  max ${fmt(s.max, 1)} ms ` +
        `(goal p95 ≤ 50 ms)`,
    );
    const slowest = [...byFilter]
      .map(([f, ms]) => [f || '(none)', summarise(ms).p95] as const)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3);
    line(`         slowest filters by p95: ${slowest.map(([f, p]) => `${f} ${fmt(p, 1)} ms`).join(', ')}`);
    return { p95: s.p95 };
  } finally {
    await service.stop();
    await db.drop();
  }
}
