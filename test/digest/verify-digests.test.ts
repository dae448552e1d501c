import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebClient } from '@slack/web-api';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/run.ts';
import { generateSigningKeyPair } from '../../src/digest/keys.ts';
import { purgeExpiredEvents } from '../../src/store/retention.ts';
import { createTestDatabase, redisUrl, type TestDatabase } from '../helpers/database.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { getEvents, postEvents, sampleEvent, startTestService, type TestService } from '../helpers/service.ts';

let database: TestDatabase;
let app: TestService;
let slack: FakeSlack;
let dir: string;
const key = generateSigningKeyPair();
const otherKey = generateSigningKeyPair();
const CHANNEL = '#audit-digests';

beforeAll(async () => {
  database = await createTestDatabase();
  slack = await startFakeSlack();
  app = await startTestService(database.url, { ROLES: 'api' });
  dir = await mkdtemp(join(tmpdir(), 'digest-test-'));
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  await database?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** `npm run cli -- …` in this process, with the environment an operator would set. */
async function cli(args: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(
    args,
    {
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl(),
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_API_URL: slack.url,
      DIGEST_CHANNEL: CHANNEL,
      DIGEST_SIGNING_KEY: key.privateKeyPem,
      LOG_LEVEL: 'silent',
      ...env,
    },
    { out: (line) => out.push(line), err: (line) => err.push(line) },
  );
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

async function store(workspaceId: string, n: number): Promise<void> {
  const token = await app.token(workspaceId);
  const response = await postEvents(app.url, token, { events: Array.from({ length: n }, () => sampleEvent()) });
  expect(response.status).toBe(201);
}

/** The README's canonical JSON, written from its description alone: keys sorted at every depth, no whitespace. */
function canonical(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const object = value as Record<string, unknown>;
  return `{${Object.keys(object)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${canonical(object[k])}`)
    .join(',')}}`;
}

/**
 * What an attacker with write access to Postgres does: edit one event, recompute every later hash and the head
 * with the README's formula (hash = sha256(prevHash + canonicalJson(event without hash))), commit.
 */
async function rewriteChain(workspaceId: string, seq: number, resourceName: string): Promise<void> {
  const token = await app.token(workspaceId);
  const body = (await (await getEvents(app.url, token, '?limit=1000')).json()) as { events: Record<string, unknown>[] };
  const events = body.events.sort((a, b) => Number(a.seq) - Number(b.seq));
  let prev = events.find((e) => e.seq === seq - 1)?.hash as string;
  for (const event of events.filter((e) => Number(e.seq) >= seq)) {
    if (event.seq === seq) event.resource = { ...(event.resource as object), name: resourceName };
    const { hash: _old, ...fields } = event;
    prev = createHash('sha256').update(prev).update(canonical(fields)).digest('hex');
    await app.service.database.db.execute(sql`
      update events set hash = ${prev}, resource_name = ${(event.resource as { name: string }).name}
      where workspace_id = ${workspaceId} and seq = ${event.seq as number}`);
  }
  await app.service.database.db.execute(sql`update chain_heads set hash = ${prev} where workspace_id = ${workspaceId}`);
}

describe('verify --digests', () => {
  it('catches the rewrite that plain verify passes, naming the seq of the digest it contradicts', async () => {
    await store('rewritten', 3);
    expect((await cli(['digest', '--workspace', 'rewritten'])).code).toBe(0);
    await store('rewritten', 4);
    const posted = await cli(['digest', '--workspace', 'rewritten']);
    expect(posted.code).toBe(0);
    expect(posted.stdout).toMatch(/^posted rewritten: seq 7, head [0-9a-f]{64}, key [0-9a-f]{16}$/m);
    const before = await cli(['verify', '--digests', '--workspace', 'rewritten']);
    expect(before.code).toBe(0);
    expect(before.stdout).toContain('2 digests match');

    const headBefore = (
      await app.service.database.db.execute<{ hash: string }>(
        sql`select hash from chain_heads where workspace_id = 'rewritten'`,
      )
    )[0]!.hash;
    await rewriteChain('rewritten', 5, 'Harmless Sandbox');

    const plain = await cli(['verify', '--workspace', 'rewritten']);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^ok 7 events, head [0-9a-f]{64}$/);
    expect(plain.stdout).not.toContain(headBefore);

    const anchored = await cli(['verify', '--digests', '--workspace', 'rewritten']);
    expect(anchored.code).toBe(1);
    const headNow = /head ([0-9a-f]{64})/.exec(plain.stdout)![1]!;
    expect(anchored.stdout).toMatch(
      new RegExp(
        `mismatch: the digest of \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z \\(workspace rewritten, seq 7\\) ` +
          `signed hash ${headBefore} at seq 7, the stored chain has ${headNow}: ` +
          'the chain was rewritten at or before seq 7, after seq 3',
      ),
    );
  });

  it('reports events deleted after a digest as truncation', async () => {
    await store('truncated', 5);
    expect((await cli(['digest', '--workspace', 'truncated'])).code).toBe(0);
    // A consistent deletion of the newest two events: the head moves back to seq 3 with its hash.
    await app.service.database.db.execute(sql`delete from events where workspace_id = 'truncated' and seq > 3`);
    await app.service.database.db.execute(sql`
      update chain_heads set seq = 3, hash = (select hash from events where workspace_id = 'truncated' and seq = 3)
      where workspace_id = 'truncated'`);
    expect((await cli(['verify', '--workspace', 'truncated'])).code).toBe(0);

    const anchored = await cli(['verify', '--digests', '--workspace', 'truncated']);
    expect(anchored.code).toBe(1);
    const truncation = /^truncated: the digest of \S+ \(workspace truncated, seq 5\) signed hash \w{64} at seq 5/m;
    expect(anchored.stdout).toMatch(truncation);
    expect(anchored.stdout).toContain('now ends at seq 3: events after seq 3 were deleted');
  });

  it('refuses a digest signed with another key, and one whose content was altered after signing', async () => {
    await store('forged', 2);
    const byOther = await cli(['digest', '--workspace', 'forged'], { DIGEST_SIGNING_KEY: otherKey.privateKeyPem });
    expect(byOther.code).toBe(0);
    const refused = await cli(['verify', '--digests', '--workspace', 'forged']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(`refused the digest of`);
    expect(refused.stdout).toContain(`signed with key ${otherKey.fingerprint}, not ${key.fingerprint}`);

    // The same digest with the stored chain's real head, posted by someone who cannot sign: the signature fails.
    const genuine = slack
      .messages(CHANNEL)
      .filter((m) => m.metadata?.event_payload.workspace_id === 'forged')
      .at(-1)!;
    const client = new WebClient(slack.botToken, { slackApiUrl: slack.url });
    await client.chat.postMessage({
      channel: CHANNEL,
      text: 'forged',
      metadata: {
        event_type: 'audit_digest',
        event_payload: {
          ...(genuine.metadata!.event_payload as Record<string, string | number>),
          seq: 1,
          key_fingerprint: key.fingerprint,
        },
      },
    });
    const bad = await cli(['verify', '--digests', '--workspace', 'forged'], {});
    expect(bad.stdout).toMatch(/bad signature on the digest of \S+ \(workspace forged, seq 1\): not made by key/);
    expect(bad.code).toBe(1);

    // With both public keys the genuine digest checks out; the forged message is still refused.
    const keyFile = join(dir, 'other.pub');
    const keyFile2 = join(dir, 'key.pub');
    await writeFile(keyFile, otherKey.publicKeyPem);
    await writeFile(keyFile2, key.publicKeyPem);
    const keys = ['--public-key', keyFile, '--public-key', keyFile2];
    const both = await cli(['verify', '--digests', '--workspace', 'forged', ...keys]);
    expect(both.stdout).toContain('ok forged: 2 events');
    expect(both.stdout).toContain('1 digest matches');
    expect(both.code).toBe(1);
  });

  it('counts a digest whose seq was purged as covered by the checkpoint, and checks the checkpoint', async () => {
    await store('purged', 6);
    expect((await cli(['digest', '--workspace', 'purged'])).code).toBe(0);
    await store('purged', 3);
    await app.service.database.db.execute(
      sql`update events set received_at = now() - interval '40 days' where workspace_id = 'purged' and seq <= 7`,
    );
    const purged = await purgeExpiredEvents(app.service.database.db, 30);
    expect(purged.find((r) => r.workspaceId === 'purged')).toMatchObject({ purged: 7, checkpointSeq: 7 });
    expect((await cli(['digest', '--workspace', 'purged'])).stdout).toContain('checkpoint seq 7');

    const checked = await cli(['verify', '--digests', '--workspace', 'purged']);
    expect(checked.stdout).toMatch(
      /^ok purged: 2 events, head [0-9a-f]{64}; 1 digest matches \(latest: \S+, seq 9\), 1 covered by the checkpoint$/m,
    );
    expect(checked.code).toBe(0);

    // The checkpoint row is the new root of the chain: rewriting it is caught by the digest that signed it.
    const forged = 'f'.repeat(64);
    await app.service.database.db.execute(sql`
      update chain_checkpoints set hash = ${forged} where workspace_id = 'purged'`);
    const forgedRoot = await cli(['verify', '--digests', '--workspace', 'purged']);
    expect(forgedRoot.code).toBe(1);
    expect(forgedRoot.stdout).toContain(`signed checkpoint hash`);
    expect(forgedRoot.stdout).toContain(`the stored chain has ${'f'.repeat(64)}`);
  });

  it('says digests are off and exits 2 without a channel or key, and checks with only the public key', async () => {
    const off = await cli(['verify', '--digests'], { DIGEST_CHANNEL: '', DIGEST_SIGNING_KEY: '' });
    expect(off.code).toBe(2);
    expect(off.stderr).toContain('signed chain digests are off');
    expect((await cli(['digest'], { DIGEST_SIGNING_KEY: '' })).code).toBe(2);

    await store('audited', 2);
    expect((await cli(['digest', '--workspace', 'audited'])).code).toBe(0);
    const publicFile = join(dir, 'audit.pub');
    await writeFile(publicFile, key.publicKeyPem);
    // An auditor's environment: the public key, Slack read access, the database; no signing key.
    const args = ['verify', '--digests', '--workspace', 'audited', '--public-key', publicFile];
    const audited = await cli(args, { DIGEST_SIGNING_KEY: '' });
    expect(audited.code).toBe(0);
    expect(audited.stdout).toContain('ok audited: 2 events');
  });

  it('reads a long channel history page by page', async () => {
    await store('paged', 1);
    expect((await cli(['digest', '--workspace', 'paged'])).code).toBe(0);
    // Over one page (200) of chatter between that digest and the next one.
    const client = new WebClient(slack.botToken, { slackApiUrl: slack.url });
    for (let i = 0; i < 210; i++) await client.chat.postMessage({ channel: CHANNEL, text: `chatter ${i}` });
    await store('paged', 1);
    expect((await cli(['digest', '--workspace', 'paged'])).code).toBe(0);
    const historyCalls = slack.callsTo('conversations.history').length;
    const checked = await cli(['verify', '--digests', '--workspace', 'paged']);
    expect(checked.stdout).toContain('2 digests match');
    expect(slack.callsTo('conversations.history').length - historyCalls).toBeGreaterThan(1);
  });
});
