/** Export: rows/s of GET /v1/events.csv against COPY … TO STDOUT CSV, and the service's RSS growth. */
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBenchDatabase, fmt, line, startServiceProcess } from './harness.ts';
import { seedEvents } from './seed.ts';

const ROWS = 100_000;

/** Both readers do the same work per chunk, so the client's own cost weighs the same on both sides. */
function countNewlines(chunk: Uint8Array): number {
  const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  let count = 0;
  for (let at = buffer.indexOf(10); at !== -1; at = buffer.indexOf(10, at + 1)) count++;
  return count;
}

export async function benchExport(): Promise<{ ratio: number; rssGrowthMb: number }> {
  const db = await createBenchDatabase();
  await seedEvents(db.sql, 'export', ROWS);
  const service = await startServiceProcess({
    DATABASE_URL: db.url,
    ROLES: 'api',
    INGEST_TOKENS: 'export:export-token-1',
    QUEUE_PREFIX: `bench${process.pid}`,
  });
  try {
    const download = async () => {
      const response = await fetch(`${service.url}/v1/events.csv`, {
        headers: { authorization: 'Bearer export-token-1' },
      });
      let newlines = 0;
      const reader = response.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        newlines += countNewlines(value);
      }
      return newlines;
    };
    await download(); // warm-up: plans cached, JIT warm, as in steady use
    const rssBefore = service.rssMb();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => (rssPeak = Math.max(rssPeak, service.rssMb())), 20);
    const started = performance.now();
    const lines = await download();
    const apiSeconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    if (lines < ROWS) throw new Error(`export returned ${lines} lines for ${ROWS} rows`);

    const copyStarted = performance.now();
    let copyBytes = 0;
    const copy = await db.sql`
      copy (select id, timestamp, type, category, actor_type, actor_id, actor_name, actor_email, resource_type,
                   resource_id, resource_name, changes, context, metadata
            from events where workspace_id = 'export' order by timestamp desc nulls last, seq desc nulls last)
      to stdout with (format csv, header)`.readable();
    let copyLines = 0;
    await pipeline(
      copy,
      new Writable({
        write(chunk: Buffer, _enc, done) {
          copyBytes += chunk.length;
          copyLines += countNewlines(chunk);
          done();
        },
      }),
    );
    if (copyLines < ROWS) throw new Error(`COPY returned ${copyLines} lines for ${ROWS} rows`);
    const copySeconds = (performance.now() - copyStarted) / 1000;

    const apiRate = ROWS / apiSeconds;
    const copyRate = ROWS / copySeconds;
    const ratio = apiRate / copyRate;
    const growth = rssPeak - rssBefore;
    line(
      `export   API ${fmt(apiRate)} rows/s (${fmt(ROWS)} rows, ${fmt(apiSeconds, 2)} s)   ` +
        `COPY ${fmt(copyRate)} rows/s (${fmt(copySeconds, 2)} s, ${fmt(copyBytes / 1e6, 1)} MB)`,
    );
    line(
      `         ratio ${fmt(ratio, 2)}× COPY (goal ≥ 0.3×)   ` +
        `service RSS ${fmt(rssBefore)} MB → peak ${fmt(rssPeak)} MB, growth ${fmt(growth, 1)} MB (goal ≤ 64 MB)`,
    );
    return { ratio, rssGrowthMb: growth };
  } finally {
    await service.stop();
    await db.drop();
  }
}
