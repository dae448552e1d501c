import { spawn } from 'node:child_process';
import { once } from 'node:events';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { MIGRATION_LOCK_KEY } from '../src/store/db.ts';
import { deleteRedisPrefix, missingDatabaseUrl, redisUrl, uniqueName } from './helpers/database.ts';
import { freePort, ownRedis } from './helpers/redis-server.ts';

const fresh = missingDatabaseUrl();
const prefixes: string[] = [];
const prefix = () => {
  prefixes.push(uniqueName('start'));
  return prefixes.at(-1)!;
};

afterAll(async () => {
  await fresh.drop();
  for (const used of prefixes) await deleteRedisPrefix(used);
});

function startProcess(env: Record<string, string>) {
  const child = spawn('node', ['--import', 'tsx', 'src/main.ts'], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  return { child, output: () => output };
}

async function waitForHttp(url: string, timeoutMs = 20_000): Promise<Response> {
  const started = Date.now();
  for (;;) {
    try {
      return await fetch(url);
    } catch {
      if (Date.now() - started > timeoutMs) throw new Error(`${url} never answered`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** Resolves once `predicate` holds for the output, polling; the test's own timeout bounds the wait. */
async function waitForOutput(output: () => string, predicate: (text: string) => boolean): Promise<string> {
  while (!predicate(output())) await new Promise((r) => setTimeout(r, 100));
  return output();
}

function jsonLines(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('npm start', () => {
  it('creates the missing database, migrates it, serves, and exits 0 on SIGTERM', async () => {
    const port = await freePort();
    const { child, output } = startProcess({
      DATABASE_URL: fresh.url,
      REDIS_URL: redisUrl(),
      QUEUE_PREFIX: prefix(),
      PORT: String(port),
      INGEST_TOKENS: 'start-ws:start-token-123',
      LOG_LEVEL: 'info',
    });
    const ready = await waitForHttp(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    const posted = await fetch(`http://127.0.0.1:${port}/v1/events`, {
      method: 'POST',
      headers: { authorization: 'Bearer start-token-123', 'content-type': 'application/json' },
      body: JSON.stringify({
        type: 'Source Created',
        actor: { type: 'user', id: 'u' },
        resource: { type: 'source', id: 's' },
      }),
    });
    expect(posted.status).toBe(201);

    child.kill('SIGTERM');
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    const lines = output()
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l));
    expect(lines.some((l) => l.msg === 'created database')).toBe(true);
    expect(lines.some((l) => l.msg === 'shutting down')).toBe(true);
    // Every request line carries its request id; the /readyz polls above are at debug, so only the POST's show.
    const requestLines = lines.filter((l) => l.req || l.res);
    expect(requestLines.length).toBe(2);
    expect(requestLines[0].req.url).toBe('/v1/events');
    expect(requestLines.every((l) => typeof l.reqId === 'string')).toBe(true);

    const check = postgres(fresh.url, { max: 1 });
    const tables = await check`select count(*)::int as n from events`;
    await check.end();
    expect(tables[0]!.n).toBe(1);
  });

  it('exits 0 on SIGTERM while waiting to migrate, once the migrations are done, without starting', async () => {
    // Another replica migrating: the lock is held, so this process waits on it.
    const other = postgres(fresh.url, { max: 1, onnotice: () => {} });
    await other`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
    const { child, output } = startProcess({
      DATABASE_URL: fresh.url,
      REDIS_URL: redisUrl(),
      PORT: String(await freePort()),
      QUEUE_PREFIX: prefix(),
      LOG_LEVEL: 'info',
    });
    try {
      const waiting = async () =>
        (
          await other`select count(*)::int as n from pg_locks
            where locktype = 'advisory' and objid = ${MIGRATION_LOCK_KEY} and not granted`
        )[0]!.n;
      await expect.poll(waiting, { timeout: 20_000 }).toBe(1);
      child.kill('SIGTERM');
      await waitForOutput(output, (text) => text.includes('shutting down once the migrations are applied'));
    } finally {
      await other`select pg_advisory_unlock(${MIGRATION_LOCK_KEY})`;
      await other.end();
    }
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    expect(output()).not.toContain('audit-trail started');
  });

  it('refuses to start on invalid rules, naming each file and line', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'bad-rules-'));
    writeFileSync(join(dir, 'bad.yml'), 'when:\n  type: [Warehouses Disbled]\nchannel: "#x"\nsevrity: critical\n');
    const { child, output } = startProcess({
      DATABASE_URL: fresh.url,
      REDIS_URL: redisUrl(),
      PORT: String(await freePort()),
      RULES_DIR: dir,
      QUEUE_PREFIX: prefix(),
    });
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(output()).toContain('audit-trail refuses to start: invalid rules:');
    expect(output()).toMatch(/bad\.yml:2: .*did you mean "Warehouses Disabled"/);
    expect(output()).toMatch(/bad\.yml:4: .*sevrity/);
  });

  it('refuses to start the Slack app in HTTP mode without a signing secret', async () => {
    const { child, output } = startProcess({
      DATABASE_URL: fresh.url,
      REDIS_URL: redisUrl(),
      PORT: String(await freePort()),
      SLACK_BOT_TOKEN: 'xoxb-1',
      QUEUE_PREFIX: prefix(),
    });
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    expect(output()).toContain('SLACK_SIGNING_SECRET: required in HTTP mode');
  });

  it('refuses to start with one message listing every bad variable', async () => {
    const { child, output } = startProcess({
      PORT: 'eighty',
      LOG_LEVEL: 'loud',
      DATABASE_URL: 'mysql://x',
      RETENTION_DAYS: '0',
    });
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    const text = output();
    expect(text).toContain('Invalid configuration:');
    for (const variable of ['PORT', 'LOG_LEVEL', 'DATABASE_URL', 'RETENTION_DAYS'])
      expect(text).toContain(`  - ${variable}: `);
  });

  it('stops with one line naming Postgres and its address (no password, no stack) when it is unreachable', async () => {
    const closed = await freePort();
    const { child, output } = startProcess({
      DATABASE_URL: `postgres://postgres:hunter2@127.0.0.1:${closed}/audit_trail`,
      REDIS_URL: redisUrl(),
      PORT: String(await freePort()),
      QUEUE_PREFIX: prefix(),
    });
    const [code] = await once(child, 'exit');
    expect(code).toBe(1);
    const lines = output().trim().split('\n');
    const reason = `connect ECONNREFUSED 127.0.0.1:${closed}`;
    expect(lines).toEqual([`audit-trail cannot start: Postgres at 127.0.0.1:${closed} is unreachable (${reason})`]);
    expect(output()).not.toContain('hunter2');
  });

  it('serves /readyz (503 naming Redis), says every few seconds where Redis is while down, recovers', async () => {
    const redisPort = await freePort();
    const port = await freePort();
    const { child, output } = startProcess({
      DATABASE_URL: fresh.url,
      REDIS_URL: `redis://:s3cret@127.0.0.1:${redisPort}`,
      QUEUE_PREFIX: prefix(),
      PORT: String(port),
      LOG_LEVEL: 'info',
    });
    const redis = await ownRedis(redisPort);
    try {
      const notReady = await waitForHttp(`http://127.0.0.1:${port}/readyz`);
      expect(notReady.status).toBe(503);
      expect(await notReady.json()).toMatchObject({ error: 'not ready: redis unavailable', postgres: 'ok' });
      const address = `127.0.0.1:${redisPort}`;
      const warning = `Redis at ${address} is unreachable (connect ECONNREFUSED ${address}); retrying`;
      const unreachable = (line: Record<string, unknown>) => line.msg === warning;
      // Said again while it stays down: two warnings, a few seconds apart, and not one per reconnect.
      const text = await waitForOutput(output, (t) => jsonLines(t).filter(unreachable).length >= 2);
      const warnings = jsonLines(text).filter(unreachable);
      expect(warnings[0]).toMatchObject({ level: 40, redis: address, error: 'ECONNREFUSED' });
      const apart = Date.parse(String(warnings[1]!.time)) - Date.parse(String(warnings[0]!.time));
      expect(apart).toBeGreaterThanOrEqual(4000);
      expect(text).not.toContain('s3cret');
      // BullMQ's workers' own reconnect errors are left to the warning above rather than logged on each try.
      expect(jsonLines(text).filter((l) => String(l.msg).endsWith('worker error'))).toEqual([]);

      await redis.start();
      const back = `Redis at ${address} is reachable again`;
      await waitForOutput(output, (t) => jsonLines(t).some((l) => l.msg === back));
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      expect(code).toBe(0);
      await redis.cleanup();
    }
  }, 60_000);
});
