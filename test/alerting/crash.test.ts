import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAlert } from '../../src/store/alerts.ts';
import { createDb, type Database } from '../../src/store/db.ts';
import { createIngestToken } from '../../src/store/tokens.ts';
import { createTestDatabase, deleteRedisPrefix, redisUrl, type TestDatabase, uniqueName } from '../helpers/database.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { freePort } from '../helpers/redis-server.ts';
import { rulesDir } from '../helpers/rules-dir.ts';

let database: TestDatabase;
let store: Database;
let slack: FakeSlack;
const rules = rulesDir({
  'warehouse-disabled.yml': 'when: { type: [Warehouses Disabled] }\nchannel: "#data-alerts"\nseverity: critical\n',
});
const prefix = uniqueName('crash');

beforeAll(async () => {
  database = await createTestDatabase();
  store = createDb(database.url);
  slack = await startFakeSlack();
});

afterAll(async () => {
  await deleteRedisPrefix(prefix);
  await store?.close();
  await slack?.close();
  await database?.drop();
  rules.remove();
});

async function startWorker(port: number): Promise<ChildProcess> {
  const child = spawn('node', ['--import', 'tsx', 'test/helpers/worker-process.ts'], {
    env: {
      ...process.env,
      DATABASE_URL: database.url,
      REDIS_URL: redisUrl(),
      QUEUE_PREFIX: prefix,
      ROLES: 'api,relay,worker',
      PORT: String(port),
      RULES_DIR: rules.dir,
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_API_URL: slack.url,
      LOG_LEVEL: 'warn',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.on('data', (chunk) => (out += chunk));
  for (let i = 0; !out.includes('ready'); i++) {
    if (i > 300 || child.exitCode !== null) throw new Error(`worker did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

describe('a worker killed between Slack accepting an alert and recording it', () => {
  it('is replaced by one that finds the message by its metadata and does not post it again', async () => {
    const port = await freePort();
    const first = await startWorker(port);
    const { token } = await createIngestToken(store.db, { workspaceId: 'acme', name: 'crash' });

    // Slack has stored the message; the worker dies before it reads the answer.
    slack.afterHandled('chat.postMessage', () => {
      first.kill('SIGKILL');
    });
    const exited = once(first, 'exit');
    const response = await fetch(`http://127.0.0.1:${port}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        id: 'evt_crash',
        type: 'Warehouses Disabled',
        actor: { type: 'user', id: 'u' },
        resource: { type: 'warehouse', id: 'wh_1' },
      }),
    });
    expect(response.status).toBe(201);
    const [, signal] = await exited;
    expect(signal).toBe('SIGKILL');
    slack.afterHandled('chat.postMessage', undefined);
    expect(slack.messages('#data-alerts')).toHaveLength(1);
    const key = { workspaceId: 'acme', eventId: 'evt_crash', ruleId: 'warehouse-disabled' };
    expect((await getAlert(store.db, key))?.status).toBe('pending');

    const second = await startWorker(await freePort());
    try {
      await expect
        .poll(async () => (await getAlert(store.db, key))?.status, { timeout: 20_000, interval: 200 })
        .toBe('sent');
      const [message] = slack.messages('#data-alerts');
      expect(slack.messages('#data-alerts')).toHaveLength(1);
      expect((await getAlert(store.db, key))?.ts).toBe(message!.ts);
      expect(slack.callsTo('conversations.history').length).toBeGreaterThan(0);
      expect(slack.callsTo('chat.postMessage')).toHaveLength(1);
    } finally {
      second.kill('SIGTERM');
      await once(second, 'exit');
    }
  });
});
