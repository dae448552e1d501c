/**
 * Start-up: time from spawning the service (every role) to its first 200 from /readyz on a migrated database, and
 * the resident memory of the idle process; the compiled build as `npm start` runs it, against tsx for comparison.
 */
import { startFakeSlack } from '../test/helpers/fake-slack.ts';
import { createBenchDatabase, fmt, line, type ServiceEntry, startServiceProcess, summarise } from './harness.ts';

/** The goals this suite checks: an idle service under 100 MB, ready within a second of being started. */
const GOAL_RSS_MB = 100;
const GOAL_READY_MS = 1000;

const RUNS = 5;
const TSX_RUNS = 3;
/** "Idle": nothing sent to it for this long after /readyz first answered 200. */
const IDLE_MS = 5000;
/** V8 hands memory back some 20 to 30 s after start-up's garbage stops growing; one run waits to show it. */
const SETTLE_MS = 40_000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (values: number[]) => summarise(values).p50;
const range = (values: number[]) => `${fmt(Math.min(...values))}–${fmt(Math.max(...values))}`;

interface Variant {
  label: string;
  entry: ServiceEntry;
  runs: number;
  env: Record<string, string>;
}

export async function benchStartup(): Promise<{ readyMs: number; rssMb: number; settledRssMb: number }> {
  const db = await createBenchDatabase();
  const slack = await startFakeSlack();
  const slackOn = { SLACK_BOT_TOKEN: slack.botToken, SLACK_API_URL: slack.url, SLACK_SIGNING_SECRET: 'bench-secret' };
  const variants: Variant[] = [
    { label: 'compiled (npm start)', entry: 'compiled', runs: RUNS, env: {} },
    { label: 'compiled, Slack on', entry: 'compiled', runs: RUNS, env: slackOn },
    { label: 'tsx (before)', entry: 'tsx', runs: TSX_RUNS, env: {} },
  ];
  let run = 0;
  const start = (variant: Variant) =>
    startServiceProcess(
      { DATABASE_URL: db.url, QUEUE_PREFIX: `bench${process.pid}s${run++}`, ...variant.env },
      variant.entry,
    );
  const figures = new Map<string, { readyMs: number; rssMb: number }>();
  try {
    line(
      `startup: every role, migrated database, ${RUNS} runs each (tsx ${TSX_RUNS}); ` +
        `RSS ${IDLE_MS / 1000} s after ready`,
    );
    for (const variant of variants) {
      const ready: number[] = [];
      const cpu: number[] = [];
      const rss: number[] = [];
      for (let i = 0; i < variant.runs; i++) {
        const service = await start(variant);
        ready.push(service.readyMs);
        cpu.push(service.readyCpuMs);
        await sleep(IDLE_MS);
        rss.push(service.rssMb());
        await service.stop();
      }
      const readyMs = median(ready);
      const rssMb = median(rss);
      figures.set(variant.label, { readyMs, rssMb });
      line(
        `  ${variant.label.padEnd(22)} start to /readyz ${fmt(readyMs)} ms (${range(ready)}),` +
          ` CPU used by then ${fmt(median(cpu))} ms, idle RSS ${fmt(rssMb)} MB (${range(rss)})`,
      );
    }

    // One compiled run left idle longer, sampled each second: V8 returns start-up's garbage to the system some
    // 20 to 30 s in, and what is left is what a service that sits idle between events holds.
    const service = await start(variants[0]!);
    const samples: number[] = [];
    for (let waited = 0; waited < SETTLE_MS; waited += 1000) {
      await sleep(1000);
      samples.push(service.rssMb());
    }
    await service.stop();
    const settled = samples.at(-1)!;
    line(`  compiled, left idle: RSS ${fmt(samples[4]!)} MB at 5 s, ${fmt(settled)} MB at ${SETTLE_MS / 1000} s`);

    const compiled = figures.get(variants[0]!.label)!;
    const tsx = figures.get('tsx (before)')!;
    line(
      `  goals: idle RSS ≤ ${GOAL_RSS_MB} MB ${settled <= GOAL_RSS_MB ? 'met' : 'MISSED'} ` +
        `(${fmt(settled)} MB settled, ` +
        `${fmt(compiled.rssMb)} MB at 5 s), start to /readyz ≤ ${GOAL_READY_MS} ms ` +
        `${compiled.readyMs <= GOAL_READY_MS ? 'met' : 'MISSED'} (${fmt(compiled.readyMs)} ms median)`,
    );
    line(
      `  compiled vs tsx, 5 s after ready: ${fmt(tsx.rssMb - compiled.rssMb)} MB and ` +
        `${fmt(tsx.readyMs - compiled.readyMs)} ms less`,
    );
    return { ...compiled, settledRssMb: settled };
  } finally {
    await slack.close();
    await db.drop();
  }
}
