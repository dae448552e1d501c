/** Shared pieces of the benchmarks: a bench database, the service as a child process, percentiles, RSS. */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import postgres from 'postgres';
import { createLogger } from '../src/logger.ts';
import { migrateDatabase } from '../src/store/db.ts';
import { deleteKeysUnder } from '../test/helpers/redis-keys.ts';

export const SERVER_URL = process.env.BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export async function createBenchDatabase(): Promise<{ url: string; sql: postgres.Sql; drop(): Promise<void> }> {
  const name = `audit_bench_${randomBytes(4).toString('hex')}`;
  const admin = postgres(SERVER_URL, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database "${name}"`);
  const url = new URL(SERVER_URL);
  url.pathname = `/${name}`;
  await migrateDatabase(url.toString(), createLogger('silent'));
  const sql = postgres(url.toString(), { max: 4, onnotice: () => {} });
  return {
    url: url.toString(),
    sql,
    async drop() {
      await sql.end();
      await admin.unsafe(`drop database if exists "${name}" with (force)`);
      await admin.end();
    },
  };
}

export interface ServiceProcess {
  url: string;
  pid: number;
  /** Milliseconds from spawning the process to its first 200 from /readyz. */
  readyMs: number;
  /**
   * CPU milliseconds the process had used by then (all its threads, 10 ms resolution): what start-up costs whatever
   * else the machine is doing, where readyMs also counts the time spent waiting for a core.
   */
  readyCpuMs: number;
  rssMb(): number;
  stop(): Promise<void>;
}

/** How the service is run: `compiled` is what `npm start` and the container run; `tsx` is the old TypeScript loader. */
export type ServiceEntry = 'compiled' | 'tsx';

const ENTRY_ARGS: Record<ServiceEntry, string[]> = {
  compiled: ['dist/main.js'],
  tsx: ['--import', 'tsx', 'src/main.ts'],
};

/**
 * The real service, as `npm start` runs it (`npm run bench` builds first), in its own process so its memory can be
 * measured alone.
 */
export async function startServiceProcess(
  env: Record<string, string>,
  entry: ServiceEntry = 'compiled',
): Promise<ServiceProcess> {
  if (entry === 'compiled' && !existsSync('dist/main.js')) {
    throw new Error('dist/main.js is missing: run `npm run build` (npm run bench does)');
  }
  const port = await freePort();
  const started = performance.now();
  const flags = [
    ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/cpuprof'] : []),
    // To compare Node/V8 flags, e.g. BENCH_NODE_FLAGS=--max-semi-space-size=4
    ...(process.env.BENCH_NODE_FLAGS?.split(/\s+/).filter(Boolean) ?? []),
  ];
  const child: ChildProcess = spawn('node', [...flags, ...ENTRY_ARGS[entry]], {
    env: { ...process.env, PORT: String(port), LOG_LEVEL: 'warn', REDIS_URL, ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  // Polled every 10 ms, so readyMs is accurate to about that.
  const deadline = started + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`service exited with code ${child.exitCode} before it was ready`);
    try {
      if ((await fetch(`${url}/readyz`)).ok) break;
    } catch {
      if (performance.now() > deadline) throw new Error('service did not start');
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const readyMs = performance.now() - started;
  const readyCpuMs = cpuSeconds(child.pid!) * 1000;
  return {
    url,
    pid: child.pid!,
    readyMs,
    readyCpuMs,
    rssMb() {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)![1]) / 1024;
    },
    async stop() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      // Tens of thousands of jobs per run would otherwise stay in Redis.
      if (env.QUEUE_PREFIX?.startsWith('bench')) await deleteKeysUnder(REDIS_URL, env.QUEUE_PREFIX);
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)]!;
}

export function summarise(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return { p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: sorted.at(-1)! };
}

export const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export function line(text: string): void {
  process.stdout.write(`${text}\n`);
}

const CLOCK_TICKS = 100; // USER_HZ on Linux

/** CPU seconds (user + system) a process has used, from /proc. */
export function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return 0; // the process has exited
  }
}

/** CPU seconds used by every Postgres process on this machine (backends, WAL writer, checkpointer). */
export function postgresCpuSeconds(): number {
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() === 'postgres') total += cpuSeconds(Number(entry));
    } catch {
      // gone between readdir and read
    }
  }
  return total;
}
