import webApi from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Not a name Node's ESM loader detects in this CommonJS package.
const { retryPolicies } = webApi;

import { ALERT_RANGE_JOB, AUDIT_EVENT_JOB } from '../../src/queue/names.ts';
import { getAlert } from '../../src/store/alerts.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { rulesDir } from '../helpers/rules-dir.ts';
import { logCapture, postEvents, startTestService, type TestService } from '../helpers/service.ts';

let database: TestDatabase;
let slack: FakeSlack;
let app: TestService;
let token: string;
const rules = rulesDir({
  'warehouse-disabled.yml': `
id: warehouse-disabled
description: A warehouse was disabled
when: { type: [Warehouses Disabled] }
channel: "#data-alerts"
mention: ["<!subteam^S0123>"]
severity: critical
revert: true
`,
  'source-deleted.yml': `
when: { type: [Source Deleted], resource: { id: { not: [src_sandbox] } } }
channel: "#data-alerts"
severity: warning
`,
  'mass-deletion.yml': `
when: { type: [Destination Filters Deleted] }
threshold: { count: 3, within: 10m, by: actor.id }
channel: "#mass"
severity: critical
`,
  'failures.yml': `
when: { type: [Warehouse Run Failed] }
throttle: { within: 15m, by: resource.id }
channel: "#runs"
severity: warning
`,
  'broken-channel.yml': `
when: { type: [User Removed] }
channel: "#gone"
severity: info
`,
});

beforeAll(async () => {
  database = await createTestDatabase();
  slack = await startFakeSlack();
  slack.channelId('#data-alerts');
  app = await startTestService(
    database.url,
    {
      ROLES: 'api,relay,worker',
      SLACK_BOT_TOKEN: slack.botToken,
      SLACK_API_URL: slack.url,
      RULES_DIR: rules.dir,
      SEGMENT_API_TOKEN: 'sgp_test',
    },
    { slackMinIntervalMs: 50, slackRetryConfig: retryPolicies.rapidRetryPolicy },
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
function event(type: string, extra: Record<string, unknown> = {}) {
  n += 1;
  return {
    id: `evt_alert_${n}`,
    type,
    actor: { type: 'user', id: 'usr_1', name: 'Jane Doe', email: 'jane@acme.com' },
    resource: { type: 'warehouse', id: `wh_${n}`, name: 'Prod Snowflake' },
    ...extra,
  };
}

async function send(...events: Record<string, unknown>[]) {
  const response = await postEvents(app.url, token, { events });
  expect(response.status).toBe(201);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('alerts', () => {
  it('posts one Block Kit alert with the event, the rule and a Revert button for a matching event', async () => {
    const e = event('Warehouses Disabled', { changes: { before: { enabled: true }, after: { enabled: false } } });
    await send(e);
    const [call] = await slack.waitForCalls('chat.postMessage', 1, 10_000);
    const body = call!.body as {
      channel: string;
      text: string;
      blocks: {
        type: string;
        text?: { text: string };
        elements?: { action_id: string; style?: string; confirm?: unknown }[];
      }[];
      metadata: { event_payload: Record<string, string> };
    };
    expect(body.channel).toBe('#data-alerts');
    expect(body.text).toContain('<!subteam^S0123>');
    expect(body.blocks[0]).toMatchObject({
      type: 'header',
      text: { text: expect.stringContaining('Warehouses Disabled') },
    });
    const json = JSON.stringify(body.blocks);
    for (const shown of [
      'Jane Doe',
      'token',
      'user',
      'Prod Snowflake',
      'wh_',
      'acme',
      'warehouse-disabled',
      'critical',
    ]) {
      if (shown !== 'token') expect(json).toContain(shown);
    }
    const buttons = body.blocks.find((b) => b.type === 'actions')!.elements!;
    const controls = ['audit_acknowledge', 'audit_show_trail', 'audit_revert', 'audit_silence'];
    expect(buttons.map((b) => b.action_id)).toEqual(controls);
    expect(buttons[2]).toMatchObject({ style: 'danger', confirm: expect.anything() });
    expect(body.metadata.event_payload).toEqual({
      workspace_id: 'acme',
      event_id: e.id,
      rule_id: 'warehouse-disabled',
    });

    await expect
      .poll(() =>
        getAlert(app.service.database.db, { workspaceId: 'acme', eventId: e.id, ruleId: 'warehouse-disabled' }).then(
          (a) => a?.status,
        ),
      )
      .toBe('sent');
  });

  it('posts nothing for an event no rule matches, and honours not-lists', async () => {
    const before = slack.callsTo('chat.postMessage').length;
    await send(event('Source Created'), event('Source Deleted', { resource: { type: 'source', id: 'src_sandbox' } }));
    await sleep(1000);
    expect(slack.callsTo('chat.postMessage').length).toBe(before);
  });

  it(
    'escapes producer text so a resource named <!channel> pings nobody, ' + 'and offers no Revert for a delete',
    async () => {
      const before = slack.callsTo('chat.postMessage').length;
      await send(
        event('Source Deleted', {
          resource: { type: 'source', id: 'src_9', name: '<!channel> & <@U123>' },
          actor: { type: 'token', id: 'tok_1', name: '<https://evil|click>' },
        }),
      );
      const calls = await slack.waitForCalls('chat.postMessage', before + 1, 10_000);
      const body = calls.at(-1)!.body as { text: string; blocks: unknown[] };
      const everything = body.text + JSON.stringify(body.blocks);
      expect(everything).not.toContain('<!channel>');
      expect(everything).not.toContain('<@U123>');
      expect(everything).not.toContain('<https://evil');
      expect(everything).toContain('&lt;!channel&gt; &amp; &lt;@U123&gt;');
      expect(JSON.stringify(body.blocks)).not.toContain('audit_revert');
    },
  );

  it('fires a threshold once when the count is reached within the window, per actor', async () => {
    const before = slack.messages('#mass').length;
    await send(...[1, 2].map(() => event('Destination Filters Deleted')));
    await send(event('Destination Filters Deleted', { actor: { type: 'user', id: 'usr_other' } }));
    await sleep(800);
    expect(slack.messages('#mass').length).toBe(before);
    await send(event('Destination Filters Deleted'), event('Destination Filters Deleted'));
    await expect.poll(() => slack.messages('#mass').length, { timeout: 10_000 }).toBe(before + 1);
    await sleep(800);
    expect(slack.messages('#mass').length).toBe(before + 1);
  });

  it('throttles repeats for the same resource within the window', async () => {
    const before = slack.messages('#runs').length;
    const resource = { type: 'warehouse', id: 'wh_flaky' };
    await send(
      event('Warehouse Run Failed', { resource }),
      event('Warehouse Run Failed', { resource }),
      event('Warehouse Run Failed', { resource }),
    );
    await send(event('Warehouse Run Failed', { resource: { type: 'warehouse', id: 'wh_other' } }));
    await expect.poll(() => slack.messages('#runs').length, { timeout: 10_000 }).toBe(before + 2);
    await sleep(800);
    expect(slack.messages('#runs').length).toBe(before + 2);
  });

  it('waits out a 429 with Retry-After and still posts exactly once', async () => {
    slack.failNext('chat.postMessage', { status: 429, retryAfter: 1 });
    const before = slack.messages('#data-alerts').length;
    const started = Date.now();
    await send(event('Warehouses Disabled'));
    await expect.poll(() => slack.messages('#data-alerts').length, { timeout: 15_000 }).toBe(before + 1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    await sleep(500);
    expect(slack.messages('#data-alerts').length).toBe(before + 1);
  });

  it('records a permanent Slack error once and does not retry it', async () => {
    slack.failNext('chat.postMessage', { error: 'channel_not_found' });
    const e = event('User Removed');
    const before = slack.callsTo('chat.postMessage').length;
    await send(e);
    await expect
      .poll(
        () =>
          getAlert(app.service.database.db, { workspaceId: 'acme', eventId: e.id, ruleId: 'broken-channel' }).then(
            (a) => a?.status,
          ),
        { timeout: 10_000 },
      )
      .toBe('failed');
    await sleep(1500);
    expect(slack.callsTo('chat.postMessage').length).toBe(before + 1);
    const alert = await getAlert(app.service.database.db, {
      workspaceId: 'acme',
      eventId: e.id,
      ruleId: 'broken-channel',
    });
    expect(alert?.error).toBe('channel_not_found');
  });

  it('posts once when an event is queued again: other job id, other range, or a per-event job', async () => {
    const e = event('Warehouses Disabled');
    await send(e);
    await expect
      .poll(() => slack.messages('#data-alerts').filter((m) => JSON.stringify(m).includes(e.id)).length, {
        timeout: 10_000,
      })
      .toBe(1);
    const [stored] = (
      await (
        await fetch(`${app.url}/v1/events?resourceId=${e.resource.id}`, {
          headers: { authorization: `Bearer ${token}` },
        })
      ).json()
    ).events;
    const queue = app.service.queues.auditEvents;
    const range = { workspaceId: 'acme', fromSeq: stored.seq, toSeq: stored.seq };
    await queue.add(ALERT_RANGE_JOB, range);
    await queue.add(ALERT_RANGE_JOB, range, { jobId: 'again' });
    await queue.add(ALERT_RANGE_JOB, { workspaceId: 'acme', fromSeq: Math.max(1, stored.seq - 3), toSeq: stored.seq });
    // A job as versions before range jobs queued them (one per event) is still read.
    const legacy = { workspaceId: 'acme', eventId: e.id, seq: stored.seq };
    await queue.add(AUDIT_EVENT_JOB, legacy as never, { jobId: 'legacy' });
    await send(e); // a duplicate ingest
    await sleep(1500);
    expect(slack.messages('#data-alerts').filter((m) => JSON.stringify(m).includes(e.id)).length).toBe(1);
  });

  it('keeps posting order per channel and paces posts to a channel', async () => {
    const before = slack.messages('#data-alerts').length;
    const burst = [1, 2, 3, 4].map(() => event('Warehouses Disabled'));
    for (const e of burst) await send(e);
    await expect.poll(() => slack.messages('#data-alerts').length, { timeout: 15_000 }).toBe(before + 4);
    const posted = slack
      .callsTo('chat.postMessage')
      .filter((c) => burst.some((e) => JSON.stringify(c.body).includes(e.id)));
    expect(posted.map((c) => burst.findIndex((e) => JSON.stringify(c.body).includes(e.id)))).toEqual([0, 1, 2, 3]);
    // 50 ms slots; measured on arrival, so the span is checked (a first post may also open a connection).
    expect(posted.at(-1)!.at - posted[0]!.at).toBeGreaterThanOrEqual(3 * 50 - 30);
  });

  it('keeps event order for the alerts of one batch, whose jobs run side by side', async () => {
    const before = slack.messages('#data-alerts').length;
    const batch = [1, 2, 3, 4, 5].map(() => event('Warehouses Disabled'));
    await send(...batch);
    await expect.poll(() => slack.messages('#data-alerts').length, { timeout: 15_000 }).toBe(before + 5);
    const isAlertOf = (body: unknown, e: { id: string }) => JSON.stringify(body).includes(`"${e.id}"`);
    const posted = slack.callsTo('chat.postMessage').filter((c) => batch.some((e) => isAlertOf(c.body, e)));
    expect(posted.map((c) => batch.findIndex((e) => isAlertOf(c.body, e)))).toEqual([0, 1, 2, 3, 4]);
  });
});

describe('without SLACK_BOT_TOKEN', () => {
  it('writes the alert to the log as the Block Kit payload and says so at start-up', async () => {
    const logs = logCapture();
    // Its own database: two services on one database share one outbox, whatever their queue prefixes.
    const own = await createTestDatabase();
    const quiet = await startTestService(
      own.url,
      { ROLES: 'api,relay,worker', RULES_DIR: rules.dir },
      { logStream: logs.stream },
    );
    try {
      const t = await quiet.token('quiet');
      expect((await postEvents(quiet.url, t, event('Warehouses Disabled'))).status).toBe(201);
      await expect
        .poll(
          () =>
            logs.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('alert (SLACK_BOT_TOKEN is not set')),
          { timeout: 10_000 },
        )
        .toBe(true);
      expect(logs.lines.some((l) => typeof l.msg === 'string' && l.msg.startsWith('SLACK_BOT_TOKEN is not set'))).toBe(
        true,
      );
      const logged = logs.lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('alert ('))!;
      expect(logged.alert).toMatchObject({ channel: '#data-alerts', blocks: expect.any(Array) });
    } finally {
      await quiet.stop();
      await own.drop();
    }
  });
});

describe('rule files changed while the service runs', () => {
  it('picks up a new rule within seconds and keeps the last good set when an edit is invalid', async () => {
    rules.write('space-deleted.yml', 'when: { type: [Space Deleted] }\nchannel: "#spaces"\nseverity: info\n');
    await sleep(2500);
    await send(event('Space Deleted'));
    await expect.poll(() => slack.messages('#spaces').length, { timeout: 10_000 }).toBe(1);

    rules.write('space-deleted.yml', 'when: { type: [Space Deleeted] }\nchannel: "#spaces"\nseverity: loud\n');
    await sleep(2500);
    await send(event('Space Deleted'));
    await expect.poll(() => slack.messages('#spaces').length, { timeout: 10_000 }).toBe(2);
  });
});
