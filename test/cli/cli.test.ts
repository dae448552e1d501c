import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, redisUrl, type TestDatabase } from '../helpers/database.ts';
import { getEvents, startTestService, type TestService } from '../helpers/service.ts';

const run = promisify(execFile);
let database: TestDatabase;
let app: TestService;

beforeAll(async () => {
  database = await createTestDatabase();
  app = await startTestService(database.url, { ROLES: 'api' });
});

afterAll(async () => {
  await app?.stop();
  await database?.drop();
});

/** Runs `npm run cli -- …` the way an operator does, in a child process. */
async function cli(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run('node', ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      env: { ...process.env, DATABASE_URL: database.url, REDIS_URL: redisUrl(), ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe('the CLI', () => {
  it('creates a token that works, lists it without the secret, and revokes it', async () => {
    const created = await cli(['tokens', 'create', '--workspace', 'cli-ws', '--name', 'ci producer']);
    expect(created.code).toBe(0);
    const token = created.stdout.trim().split('\n').at(-1)!;
    expect(token).toMatch(/^atk_/);
    expect((await getEvents(app.url, token)).status).toBe(200);

    const listed = await cli(['tokens', 'list']);
    expect(listed.stdout).toContain('cli-ws\tci producer');
    expect(listed.stdout).not.toContain(token);
    const id = /(tok_[0-9a-f]+)\tcli-ws/.exec(listed.stdout)![1]!;

    expect((await cli(['tokens', 'revoke', id])).stdout).toContain(`revoked ${id}`);
    expect((await getEvents(app.url, token)).status).toBe(401);
    expect((await cli(['tokens', 'list'])).stdout).toMatch(new RegExp(`${id}.*revoked`));
    expect((await cli(['tokens', 'revoke', id])).code).toBe(1);
  });

  it('sends an event to the running service and verifies the chain', async () => {
    const token = (await cli(['tokens', 'create', '--workspace', 'send-ws', '--name', 'cli'])).stdout
      .trim()
      .split('\n')
      .at(-1)!;
    const sent = await cli([
      'send',
      '--type',
      'Warehouses Disabled',
      '--actor',
      'usr_9',
      '--actor-email',
      'ops@acme.com',
      '--resource-type',
      'warehouse',
      '--resource-id',
      'wh_9',
      '--url',
      app.url,
      '--token',
      token,
      '--metadata',
      '{"ticket":"OPS-1"}',
    ]);
    expect(sent.code).toBe(0);
    expect(sent.stdout).toMatch(/^201 \{"accepted":1/);
    const body = await (await getEvents(app.url, token)).json();
    expect(body.events[0]).toMatchObject({
      type: 'Warehouses Disabled',
      actor: { id: 'usr_9', email: 'ops@acme.com' },
      metadata: { ticket: 'OPS-1' },
    });

    const verified = await cli(['verify', '--workspace', 'send-ws']);
    expect(verified.code).toBe(0);
    expect(verified.stdout.trim()).toBe(`ok 1 events, head ${body.events[0].hash}`);
  });

  it('exits 1 and names the seq when verify finds an edit', async () => {
    const token = await app.token('edited');
    for (let i = 0; i < 3; i++) {
      await cli([
        'send',
        '--type',
        'Source Modified',
        '--actor',
        'u',
        '--resource-type',
        'source',
        '--resource-id',
        `s${i}`,
        '--url',
        app.url,
        '--token',
        token,
      ]);
    }
    await app.service.database.db.execute(
      sql`update events set resource_id = 'sX' where workspace_id = 'edited' and seq = 2`,
    );
    const verified = await cli(['verify', '--workspace', 'edited']);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toMatch(/^broken at seq 2: hash mismatch/);
    const all = await cli(['verify']);
    expect(all.code).toBe(1);
    expect(all.stdout).toMatch(/ok 1 events, head [0-9a-f]{64} \(workspace send-ws\)/);
  });

  it('verifies, with no --workspace, a workspace whose chain head row was deleted, and reports it broken', async () => {
    const token = await app.token('headless');
    const args = ['--actor', 'u', '--resource-type', 'source', '--resource-id', 's1', '--url', app.url];
    expect((await cli(['send', '--type', 'Source Modified', ...args, '--token', token])).code).toBe(0);
    await app.service.database.db.execute(sql`delete from chain_heads where workspace_id = 'headless'`);
    const all = await cli(['verify']);
    expect(all.code).toBe(1);
    expect(all.stdout).toContain(
      'broken at seq 2: the chain head is missing but events run to seq 1 (workspace headless)',
    );
  });

  it('explains a usage mistake and exits 2', async () => {
    const missing = await cli(['send', '--type', 'X']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('send needs --actor, --resource-type, --resource-id');
    const unknown = await cli(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "frobnicate"');
  });

  it('exits 1 and says so when verify --workspace names a workspace with no events', async () => {
    const verified = await cli(['verify', '--workspace', 'no-such-ws']);
    expect(verified.code).toBe(1);
    expect(verified.stdout).toBe('');
    expect(verified.stderr).toMatch(/^no events stored for workspace "no-such-ws" \((workspaces with events|no wor)/);
  });

  it('prints usage and exits 0 for --help on every command, without a database or a valid configuration', async () => {
    const noConfig = { DATABASE_URL: 'mysql://nowhere', RULES_DIR: '/nonexistent' };
    const cases: [string[], string][] = [
      [['--help'], 'usage: npm run -s cli -- <command>'],
      [['help'], 'usage: npm run -s cli -- <command>'],
      [['tokens', '--help'], 'usage: npm run -s cli -- tokens'],
      [['tokens', 'create', '--help'], 'TOKEN=$(npm run -s cli -- tokens create'],
      [['verify', '--help'], 'usage: npm run -s cli -- verify [--workspace W]'],
      [['digest', '--help'], 'npm run -s cli -- digest keygen'],
      [['send', '-h'], 'AUDIT_TOKEN'],
    ];
    for (const [args, expected] of cases) {
      const result = await cli(args, noConfig);
      expect(result, args.join(' ')).toMatchObject({ code: 0, stderr: '' });
      expect(result.stdout).toContain(expected);
    }
    const scripts = [
      ['src/cli/rules-check.ts', 'usage: npm run rules:check'],
      ['src/cli/rules-test.ts', 'usage: npm run rules:test'],
    ];
    for (const [script, expected] of scripts) {
      const env = { ...process.env, ...noConfig };
      const { stdout } = await run('node', ['--import', 'tsx', script!, '--help'], { env });
      expect(stdout).toContain(expected);
    }
  });
});
