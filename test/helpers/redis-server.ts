/** A redis-server of a test's own, on a free port, that the test may stop and restart (never the shared one). */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface OwnRedis {
  url: string;
  port: number;
  start(): Promise<void>;
  /**
   * Stops it the hard way; data survives in the append-only file, as on a real restart, unless `wipe` deletes it
   * (a Redis without persistence, or a failover to an empty replica): the next start is then empty.
   */
  kill(options?: { wipe?: boolean }): Promise<void>;
  cleanup(): Promise<void>;
}

/** On `port` when given (a test may point a service at it before starting it), else on a free one. */
export async function ownRedis(requestedPort?: number): Promise<OwnRedis> {
  const port = requestedPort ?? (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'audit-redis-'));
  let child: ChildProcess | undefined;
  const url = `redis://127.0.0.1:${port}`;

  async function waitUntil(up: boolean) {
    for (let i = 0; i < 100; i++) {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      probe.on('error', () => {});
      const ok = await probe
        .connect()
        .then(() => probe.ping())
        .then(
          () => true,
          () => false,
        );
      probe.disconnect();
      if (ok === up) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`redis on ${port} did not come ${up ? 'up' : 'down'}`);
  }

  return {
    url,
    port,
    async start() {
      child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--dir',
          dir,
          '--appendonly',
          'yes',
          '--appendfsync',
          'always',
          '--save',
          '',
        ],
        { stdio: 'ignore' },
      );
      await waitUntil(true);
    },
    async kill(options = {}) {
      const exited = new Promise((r) => child?.once('exit', r));
      child?.kill('SIGKILL');
      await exited;
      await waitUntil(false);
      if (!options.wipe) return;
      for (const entry of readdirSync(dir)) rmSync(join(dir, entry), { recursive: true, force: true });
    },
    async cleanup() {
      child?.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
