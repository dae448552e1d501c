/**
 * The real service as its own process (`node src/main.ts`), for tests that must see whether a request can stop it:
 * an exit or an unhandled rejection in a vitest worker would be hidden by, or would break, the test runner itself.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { deleteRedisPrefix, redisUrl, uniqueName } from './database.ts';
import { freePort } from './redis-server.ts';

export interface ServiceProcess {
  url: string;
  child: ChildProcess;
  /** Its JSON log lines so far (pino on stdout), and whatever else it printed. */
  logLines(): Record<string, unknown>[];
  output(): string;
  /** The exit code or signal, once it has exited; undefined while it runs. */
  exited(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  stop(): Promise<void>;
}

export async function startServiceProcess(databaseUrl: string, env: Record<string, string>): Promise<ServiceProcess> {
  const port = await freePort();
  const queuePrefix = uniqueName('proc');
  const child = spawn('node', ['--import', 'tsx', 'src/main.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl(),
      QUEUE_PREFIX: queuePrefix,
      PORT: String(port),
      LOG_LEVEL: 'info',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.on('exit', (code, signal) => (exit = { code, signal }));

  const url = `http://127.0.0.1:${port}`;
  const started = Date.now();
  for (;;) {
    if (exit) throw new Error(`the service exited before it was ready (${JSON.stringify(exit)}):\n${output}`);
    const ready = await fetch(`${url}/readyz`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() - started > 30_000) {
      child.kill('SIGKILL');
      throw new Error(`the service never became ready:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  return {
    url,
    child,
    output: () => output,
    logLines: () =>
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    exited: () => exit,
    async stop() {
      if (!exit) {
        const exited = once(child, 'exit');
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await deleteRedisPrefix(queuePrefix);
    },
  };
}
