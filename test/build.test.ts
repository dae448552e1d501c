/**
 * The compiled build, run the way an operator runs it: npm start runs the service's bundle and the CLI scripts tsc's
 * JavaScript, both from dist/ (not TypeScript through a loader), and npm passes SIGTERM on to the service.
 */
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
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
  it('emits the service as one bundled file and the CLI as JavaScript whose imports point at .js files', () => {
    const main = readFileSync('dist/main.js', 'utf8');
    // Bundled: no module of ours is imported at run time, only the libraries kept out of the bundle on purpose.
    expect(main).not.toMatch(/from ['"]\.{1,2}\//);
    expect(main).not.toMatch(/from ['"][^'"]+\.ts['"]/);
    // Slack's libraries stay out of it: they are loaded from node_modules when a Slack feature is first built.
    expect(main).not.toMatch(/\/\/ node_modules\/@slack\//);
    const cli = readFileSync('dist/cli/main.js', 'utf8');
    expect(cli).toMatch(/from ['"]\.\/run\.js['"]|from ['"]\.\.\/[^'"]+\.js['"]/);
    expect(cli).not.toMatch(/from ['"][^'"]+\.ts['"]/);
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
