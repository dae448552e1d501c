/** Forwarding: events/s the worker delivers to a (local, fake) Segment Tracking API, from a stored backlog. */
import { startFakeSegment } from '../test/helpers/fake-segment.ts';
import { createBenchDatabase, fmt, line, startServiceProcess } from './harness.ts';
import { seedEvents } from './seed.ts';

const TOTAL = Number(process.env.BENCH_FORWARD_EVENTS ?? 50_000);
const WRITE_KEY = 'benchWriteKey0123456789abcdefXYZ';
const GOAL = 5000;

export async function benchForwarding(): Promise<{ rate: number }> {
  const segment = await startFakeSegment();
  const db = await createBenchDatabase();
  await seedEvents(db.sql, 'bench', TOTAL);
  const service = await startServiceProcess({
    DATABASE_URL: db.url,
    ROLES: 'worker',
    QUEUE_PREFIX: `benchforward${process.pid}`,
    RULES_DIR: './rules',
    SEGMENT_TRACKING_URL: segment.trackingUrl,
  });
  try {
    // From seq 0, as `/audit forward on <key> --since` with a date before the first event would set it; the NOTIFY
    // wakes the forwarder now rather than at its next sweep.
    const started = performance.now();
    await db.sql`
      insert into forwarding (workspace_id, enabled, write_key, name, changed_by, delivered_seq, started_seq)
      values ('bench', true, ${WRITE_KEY}, 'bench', 'U0BENCH', 0, 0)`;
    await db.sql`select pg_notify('audit_outbox', 'bench')`;
    let rss = 0;
    for (;;) {
      const [row] = await db.sql<
        { delivered: string }[]
      >`select delivered_seq as delivered from forwarding where workspace_id = 'bench'`;
      rss = Math.max(rss, service.rssMb());
      if (Number(row?.delivered) >= TOTAL) break;
      if (performance.now() - started > 300_000)
        throw new Error(`forwarding stalled at seq ${row?.delivered} of ${TOTAL}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const seconds = (performance.now() - started) / 1000;
    const rate = TOTAL / seconds;
    const batches = segment.batches(WRITE_KEY);
    const delivered = new Set(batches.flatMap((b) => b.body.batch.map((call) => call.messageId)));
    if (delivered.size !== TOTAL)
      throw new Error(`the fake received ${delivered.size} distinct events, expected ${TOTAL}`);
    const bytes = batches.map((b) => Buffer.byteLength(JSON.stringify(b.body)));
    line(
      `forward  ${fmt(rate)} events/s delivered ` +
        `(${fmt(TOTAL)} stored events to the fake Tracking API in ${fmt(seconds, 2)} s, ` +
        `${batches.length} batches of ≤ ${fmt(Math.max(...bytes) / 1024)} KB, service RSS ${fmt(rss)} MB) ` +
        `(goal ≥ ${fmt(GOAL)} events/s, and not slower than ingest)`,
    );
    return { rate };
  } finally {
    await service.stop();
    await db.drop();
    await segment.close();
  }
}
