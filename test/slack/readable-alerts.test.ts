import webApi from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { rulesDir } from '../helpers/rules-dir.ts';
import { postEvents, startTestService, type TestService } from '../helpers/service.ts';
import { controlOf, slackSession } from '../helpers/slack-session.ts';

const { retryPolicies } = webApi;

const rules = rulesDir({
  'warehouse-disabled.yml': `
id: warehouse-disabled
when: { type: [Warehouses Disabled] }
channel: "#data-alerts"
severity: critical
`,
});

let database: TestDatabase;
let slack: FakeSlack;
let app: TestService;
let token: string;

beforeAll(async () => {
  database = await createTestDatabase();
  slack = await startFakeSlack({
    users: [
      { id: 'U0JANE', name: 'jane', real_name: 'Jane Doe', email: 'jane@acme.com' },
      { id: 'U0SLOW', name: 'slow', real_name: 'Slow Sam', email: 'slow@acme.com' },
    ],
  });
  app = await startTestService(
    database.url,
    {
      ROLES: 'api,relay,worker',
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_API_URL: slack.url,
      RULES_DIR: rules.dir,
      RESOURCE_URLS:
        'warehouse=https://app.segment.com/acme/warehouses/{id}/overview, ' +
        'source=https://app.segment.com/acme/sources/{id}',
    },
    { slackMinIntervalMs: 10, slackRetryConfig: retryPolicies.rapidRetryPolicy },
  );
  token = await app.token('acme');
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  await database?.drop();
  rules.remove();
});

let n = 0;
async function alertOf(actor: Record<string, string>, resourceId = 'wh_1') {
  n += 1;
  const id = `evt_readable_${n}`;
  const event = {
    id,
    type: 'Warehouses Disabled',
    actor: { type: 'user', ...actor },
    resource: { type: 'warehouse', id: resourceId },
  };
  expect((await postEvents(app.url, token, event)).status).toBe(201);
  return slackSession(slack, () => ({ url: app.url, token })).alertFor('#data-alerts', id);
}

const actorField = (message: { blocks?: unknown[] }) =>
  (message.blocks as { type: string; fields?: { text: string }[] }[]).find((b) => b.fields)!.fields![0]!.text;
const lookups = (email: string) => slack.callsTo('users.lookupByEmail').filter((c) => c.body.email === email);

describe('readable alerts', () => {
  it('shows the actor as a mention when their email belongs to a Slack user, however the email is cased', async () => {
    const message = await alertOf({ id: 'usr_jane', name: 'Jane Doe', email: 'Jane@Acme.com' });
    expect(actorField(message)).toBe('*Actor*\n<@U0JANE> (Jane Doe) · user');
  });

  it('shows name and email when no Slack user has it, and asks Slack once for a miss', async () => {
    const first = await alertOf({ id: 'usr_x', name: 'Nobody', email: 'nobody@acme.com' });
    const second = await alertOf({ id: 'usr_x', name: 'Nobody', email: 'nobody@acme.com' });
    expect(actorField(first)).toBe('*Actor*\nNobody (nobody@acme.com) · user');
    expect(actorField(second)).toBe(actorField(first));
    expect(lookups('nobody@acme.com')).toHaveLength(1);
  });

  it('asks nothing for an actor without an email', async () => {
    const before = slack.callsTo('users.lookupByEmail').length;
    const message = await alertOf({ id: 'tok_ci' });
    expect(actorField(message)).toBe('*Actor*\n`tok_ci` · user');
    expect(slack.callsTo('users.lookupByEmail')).toHaveLength(before);
  });

  it('posts without the mention rather than wait for a slow lookup, and mentions once Slack has answered', async () => {
    const hold = slack.hold('users.lookupByEmail');
    const posting = alertOf({ id: 'usr_slow', name: 'Slow Sam', email: 'slow@acme.com' });
    await hold.waitUntilHeld(1, 10_000);
    const message = await posting;
    // Posted while Slack still had not answered.
    expect(hold.waiting).toBe(1);
    expect(actorField(message)).toBe('*Actor*\nSlow Sam (slow@acme.com) · user');
    hold.release();

    await expect
      .poll(async () => actorField(await alertOf({ id: 'usr_slow', name: 'Slow Sam', email: 'slow@acme.com' })), {
        timeout: 10_000,
      })
      .toBe('*Actor*\n<@U0SLOW> (Slow Sam) · user');
    expect(lookups('slow@acme.com')).toHaveLength(1);
  });

  it('offers an Open link from RESOURCE_URLS, with the id URL-encoded', async () => {
    const message = await alertOf({ id: 'usr_1' }, 'wh 7/prod');
    expect(controlOf(message.blocks, 'audit_open_resource')?.url).toBe(
      'https://app.segment.com/acme/warehouses/wh%207%2Fprod/overview',
    );
  });
});
