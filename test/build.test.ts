/**
 * The compiled build, run the way an operator runs it: npm start and the CLI scripts execute tsc's JavaScript
 * from dist/ (not TypeScript through a loader), and npm passes SIGTERM on to the service.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deleteRedisPrefix, missingDatabaseUrl, redisUrl, uniqueName } from './helpers/database.ts';
import { freePort } from './helpers/redis-server.ts';

const run = promisify(execFile);
const database = missingDatabaseUrl();
const prefix = uniqueName('build');
const env = {
  ...process.env,
  DATABASE_URL: database.url,
  REDIS_URL: redisUrl(),
  QUEUE_PREFIX: prefix,
  LOG_LEVEL: 'info',
};

beforeAll(async () => {
  await run('npm', ['run', '-s', 'build']);
}, 180_000);

afterAll(async () => {
  await database.drop();
  await deleteRedisPrefix(prefix);
});

describe('the compiled build', () => {
  it('emits JavaScript whose imports point at .js files', () => {
    const main = readFileSync('dist/main.js', 'utf8');
    expect(main).toMatch(/from '\.\/service\.js'|from "\.\/service\.js"/);
    expect(main).not.toMatch(/from ['"][^'"]+\.ts['"]/);
    expect(existsSync('dist/cli/main.js')).toBe(true);
  });

  it('loads no Slack library until a Slack feature is built (start-up time and memory with Slack off)', async () => {
    const script = `
      import { createRequire } from 'node:module';
      await import('./dist/service.js');
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      console.log(JSON.stringify(loaded.filter((file) => /node_modules[\\/]@slack[\\/]/.test(file))));`;
    const { stdout } = await run('node', ['--input-type=module', '-e', script]);
    expect(JSON.parse(stdout)).toEqual([]);
  });

  it('npm start runs node on dist/main.js, serves /readyz, and exits 0 when npm is sent SIGTERM', async () => {
    const port = await freePort();
    const child = spawn('npm', ['start'], { env: { ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    try {
      await expect
        .poll(
          () =>
            fetch(`http://127.0.0.1:${port}/readyz`).then(
              (r) => r.status,
              () => 0,
            ),
          { timeout: 60_000, interval: 200 },
        )
        .toBe(200);
      expect(output).toContain('node dist/main.js');
      expect(output).not.toContain('tsx');
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = await once(child, 'exit');
    expect(code).toBe(0);
    // The service itself shut down gracefully, not just npm.
    expect(output).toContain('"msg":"shutting down"');
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  }, 90_000);

  it('npm run -s cli prints the new token alone on its last line, with no npm banner', async () => {
    const { stdout } = await run(
      'npm',
      ['run', '-s', 'cli', '--', 'tokens', 'create', '--workspace', 'build-ws', '--name', 'ci'],
      { env },
    );
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^atk_\S+$/);
    expect(stdout).not.toContain('> ');
  }, 60_000);

  it('npm run -s rules:check checks the shipped rules with the compiled checker', async () => {
    const { stdout } = await run('npm', ['run', '-s', 'rules:check'], { env });
    expect(stdout).toMatch(/^ok \d+ rules in \.\/rules\n$/);
  }, 60_000);
});
