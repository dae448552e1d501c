/** Alert latency: POST /v1/events returning → the fake Slack receiving chat.postMessage, under background load. */
import { startFakeSlack } from '../test/helpers/fake-slack.ts';
import { createBenchDatabase, fmt, line, startServiceProcess, summarise } from './harness.ts';

const SAMPLES = Number(process.env.BENCH_ALERT_SAMPLES ?? 40);
const BACKGROUND_PER_SECOND = 200;

export async function benchAlerts(): Promise<{ p50: number; max: number }> {
  const slack = await startFakeSlack();
  const db = await createBenchDatabase();
  const service = await startServiceProcess({
    DATABASE_URL: db.url,
    INGEST_TOKENS: 'bench:alert-token-1',
    QUEUE_PREFIX: `benchalerts${process.pid}`,
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_SIGNING_SECRET: 'bench-signing-secret',
    SLACK_API_URL: slack.url,
    RULES_DIR: './rules',
  });
  const post = (body: unknown) =>
    fetch(`${service.url}/v1/events`, {
      method: 'POST',
      headers: { authorization: 'Bearer alert-token-1', 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then(async (r) => {
      if (r.status !== 201) throw new Error(`ingest answered ${r.status}`);
      await r.arrayBuffer();
    });
  let background = true;
  let sentBackground = 0;
  // 200 non-matching events a second, as 10-event batches every 50 ms.
  const load = (async () => {
    while (background) {
      const started = performance.now();
      await post({
        events: Array.from({ length: 10 }, () => ({
          type: 'Source Modified',
          actor: { type: 'user', id: `usr_${sentBackground++ % 20}` },
          resource: { type: 'source', id: 'src_1' },
          changes: { before: { name: 'a' }, after: { name: 'b' } },
        })),
      });
      await new Promise((r) => setTimeout(r, Math.max(0, 50 - (performance.now() - started))));
    }
  })();
  try {
    const latencies: number[] = [];
    for (let i = 0; i < SAMPLES + 2; i++) {
      const before = slack.callsTo('chat.postMessage').length;
      await post({
        id: `evt_latency_${i}`,
        type: 'Warehouses Disabled',
        actor: { type: 'user', id: 'usr_1' },
        resource: { type: 'warehouse', id: 'wh_1' },
      });
      const returned = performance.now();
      const calls = await slack.waitForCalls('chat.postMessage', before + 1, 10_000);
      if (i >= 2) latencies.push(calls[before]!.at - returned); // the first two warm up
      // Alerts to one channel are paced at one a second; wait that out so each sample measures the path alone.
      await new Promise((r) => setTimeout(r, 1050));
    }
    const s = summarise(latencies);
    line(
      `alerts   POST returned → Slack received, ` +
        `${SAMPLES} alerts under ${BACKGROUND_PER_SECOND} events/s of other load: ` +
        `p50 ${fmt(s.p50, 1)} ms  p95 ${fmt(s.p95, 1)} ms  max ${fmt(s.max, 1)} ms (goal p50 ≤ 50 ms, max ≤ 250 ms)`,
    );
    return { p50: s.p50, max: s.max };
  } finally {
    background = false;
    await load;
    await service.stop();
    await db.drop();
    await slack.close();
  }
}
