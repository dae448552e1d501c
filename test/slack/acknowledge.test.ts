import webApi from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAlert } from '../../src/store/alerts.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { type FakeSegment, startFakeSegment } from '../helpers/fake-segment.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { rulesDir } from '../helpers/rules-dir.ts';
import { postEvents, startTestService, type TestService } from '../helpers/service.ts';
import { slackEnv } from '../helpers/slack-requests.ts';
import { type Block, controlOf, metricsText, slackSession } from '../helpers/slack-session.ts';

const { retryPolicies } = webApi;

const OWNER = 'U0OWNER1';
const OTHER_OWNER = 'U0OWNER2';
const STRANGER = 'U0STRANGER';

const rules = rulesDir({
  'source-disabled.yml': `
id: source-disabled
when: { type: [Source Disabled] }
channel: "#data-alerts"
severity: critical
revert: true
`,
});

let database: TestDatabase;
let slack: FakeSlack;
let segment: FakeSegment;
let app: TestService;
let token: string;

beforeAll(async () => {
  database = await createTestDatabase();
  slack = await startFakeSlack();
  segment = await startFakeSegment();
  slack.channelId('#data-alerts');
  app = await startTestService(
    database.url,
    {
      ...slackEnv(slack, { owners: `${OWNER},${OTHER_OWNER}` }),
      SEGMENT_API_URL: segment.publicApiUrl,
      SEGMENT_API_TOKEN: segment.apiToken,
      RULES_DIR: rules.dir,
    },
    { slackMinIntervalMs: 10, slackRetryConfig: retryPolicies.rapidRetryPolicy },
  );
  token = await app.token('acme');
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  await segment?.close();
  await database?.drop();
  rules.remove();
});

const session = () => slackSession(slack, () => ({ url: app.url, token }));
const channel = () => slack.channelId('#data-alerts');
const latest = (ts: string) => slack.messages('#data-alerts').find((m) => m.ts === ts)!;
/** The alert's status lines, top to bottom, as [block_id, text]. */
const statusLines = (ts: string) =>
  ((latest(ts).blocks ?? []) as Block[])
    .filter((b) => b.type === 'context' && b.block_id)
    .map((b) => [b.block_id, b.elements![0]!.text as string]);
const controls = (ts: string) =>
  ((latest(ts).blocks ?? []) as Block[]).find((b) => b.type === 'actions')?.elements?.map((e) => e.action_id) ?? [];

async function alertFor(sourceId: string) {
  const s = session();
  segment.setSource({ id: sourceId, enabled: false });
  const id = `evt_ack_${sourceId}`;
  const event = {
    id,
    type: 'Source Disabled',
    actor: { type: 'user', id: 'usr_1' },
    resource: { type: 'source', id: sourceId },
  };
  expect((await postEvents(app.url, token, event)).status).toBe(201);
  return { id, message: await s.alertFor('#data-alerts', id) };
}

async function acknowledge(ts: string, userId = OWNER) {
  const value = controlOf(latest(ts).blocks, 'audit_acknowledge')!.value!;
  return session().click('audit_acknowledge', value, userId, latest(ts), channel());
}

async function revert(ts: string, userId = OWNER) {
  const value = controlOf(latest(ts).blocks, 'audit_revert')!.value!;
  return session().click('audit_revert', value, userId, latest(ts), channel());
}

describe('the Acknowledge button', () => {
  it('updates the alert in place with who acknowledged it and when, once, recorded as an audit event', async () => {
    const s = session();
    const { id, message } = await alertFor('src_ack');
    await acknowledge(message.ts);

    await expect
      .poll(() => JSON.stringify(statusLines(message.ts)), { timeout: 10_000 })
      .toContain('Acknowledged by <@U0OWNER1> at <!date^');
    expect(controls(message.ts)).toEqual(['audit_show_trail', 'audit_revert', 'audit_silence']);
    const row = await getAlert(app.service.database.db, {
      workspaceId: 'acme',
      eventId: id,
      ruleId: 'source-disabled',
    });
    expect(row).toMatchObject({ acknowledgedBy: OWNER, acknowledgedAt: expect.any(Date) });
    const [recorded] = (await s.stored('?type=Alert%20Acknowledged')).filter((e) => e.metadata?.alertedEventId === id);
    expect(recorded).toMatchObject({
      category: 'Other',
      actor: { type: 'user', id: OWNER },
      resource: { type: 'source', id: 'src_ack' },
      metadata: { ruleId: 'source-disabled', alertedType: 'Source Disabled' },
    });

    // A second click (a stale message still showing the button) acknowledges nothing more.
    const again = await session().click(
      'audit_acknowledge',
      JSON.stringify({ w: 'acme', e: id, r: 'source-disabled' }),
      OTHER_OWNER,
      message,
      channel(),
    );
    expect((await s.lastResponse(again)).text).toContain('<@U0OWNER1> already acknowledged this alert');
    expect(
      (await s.stored('?type=Alert%20Acknowledged')).filter((e) => e.metadata?.alertedEventId === id),
    ).toHaveLength(1);
    await expect
      .poll(() => metricsText(app.url))
      .toMatch(/^audit_alerts_total\{rule="source-disabled",outcome="acknowledged"\} 1$/m);
  });

  it('acknowledge, then revert: both status lines, and the Silence menu and Show trail stay', async () => {
    const { message } = await alertFor('src_ack_then_revert');
    await acknowledge(message.ts);
    await expect.poll(() => statusLines(message.ts).length, { timeout: 10_000 }).toBe(1);
    await revert(message.ts);
    await expect.poll(() => statusLines(message.ts).length, { timeout: 10_000 }).toBe(2);

    const [ack, reverted] = statusLines(message.ts);
    expect(ack).toEqual(['audit_acknowledged', expect.stringContaining('Acknowledged by <@U0OWNER1>')]);
    expect(reverted).toEqual(['audit_outcome', expect.stringContaining('Reverted by <@U0OWNER1>')]);
    expect(controls(message.ts)).toEqual(['audit_show_trail', 'audit_silence']);
    expect(segment.callsTo('PATCH /sources/src_ack_then_revert')).toHaveLength(1);
    await expect
      .poll(() => metricsText(app.url))
      .toMatch(/^audit_alerts_total\{rule="source-disabled",outcome="reverted"\} [1-9]$/m);
  });

  it('revert, then acknowledge: the same lines in the same order; a failed revert’s line is replaced', async () => {
    const { message } = await alertFor('src_revert_then_ack');
    segment.failNext('PATCH /sources/src_revert_then_ack', { status: 404 });
    await revert(message.ts);
    await expect.poll(() => JSON.stringify(statusLines(message.ts)), { timeout: 10_000 }).toContain('failed');
    await revert(message.ts);
    await expect.poll(() => JSON.stringify(statusLines(message.ts)), { timeout: 10_000 }).toContain('Reverted by');
    await acknowledge(message.ts);
    await expect.poll(() => statusLines(message.ts).length, { timeout: 10_000 }).toBe(2);

    const [ack, reverted] = statusLines(message.ts);
    expect(ack).toEqual(['audit_acknowledged', expect.stringContaining('Acknowledged by <@U0OWNER1>')]);
    expect(reverted).toEqual(['audit_outcome', expect.stringContaining('Reverted by <@U0OWNER1>')]);
    expect(JSON.stringify(statusLines(message.ts))).not.toContain('failed');
    expect(controls(message.ts)).toEqual(['audit_show_trail', 'audit_silence']);
  });

  it('refuses someone who is not an owner, records the attempt, and changes nothing', async () => {
    const s = session();
    const { id, message } = await alertFor('src_ack_stranger');
    const url = await acknowledge(message.ts, STRANGER);
    expect((await s.lastResponse(url)).text).toContain('Only audit owners');
    await expect
      .poll(async () =>
        (await s.stored('?type=Audit%20Access%20Denied')).some(
          (e) => e.actor.id === STRANGER && e.metadata?.attempted === 'acknowledge',
        ),
      )
      .toBe(true);
    expect(statusLines(message.ts)).toEqual([]);
    expect((await s.stored('?type=Alert%20Acknowledged')).some((e) => e.metadata?.alertedEventId === id)).toBe(false);
  });
});
