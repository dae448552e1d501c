/**
 * Acknowledge and Silence… on a grouped alert, and the status lines of a grouped message: kept in Postgres, so every
 * redraw (a new member, any later change) and the single alert's turning into the grouped message keep them.
 */
import webApi from '@slack/web-api';
import { eq, inArray, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertGroups, alerts } from '../../src/store/schema/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { invalidContent } from '../helpers/fake-slack/block-kit.ts';
import { type FakeMessage, type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { blocksOf, button, groupedCount, groupIdOf, textOf } from '../helpers/grouped-alerts.ts';
import { rulesDir } from '../helpers/rules-dir.ts';
import { postEvents, startTestService, type TestService } from '../helpers/service.ts';
import { slackEnv } from '../helpers/slack-requests.ts';
import { type Block, metricsText, slackSession } from '../helpers/slack-session.ts';

const { retryPolicies } = webApi;

const OWNER = 'U0OWNER1';
const OTHER_OWNER = 'U0OWNER2';
const STRANGER = 'U0STRANGER';

const rules = rulesDir({
  'sources-disabled.yml': `
id: sources-disabled
when: { type: [Source Disabled] }
group: { within: 10m, by: actor.id }
channel: "#grouped"
severity: warning
`,
  // Its own rule and channel: silencing it from a grouped message holds back every resource of it.
  'warehouses-disabled.yml': `
id: warehouses-disabled
when: { type: [Warehouses Disabled] }
group: { within: 10m, by: actor.id }
channel: "#quiet"
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
    users: [{ id: 'U0ALICE', name: 'alice', real_name: 'Alice', email: 'alice@acme.com' }],
  });
  for (const channel of ['#grouped', '#quiet']) slack.channelId(channel);
  app = await startTestService(
    database.url,
    {
      ROLES: 'api,relay,worker,slack',
      ...slackEnv(slack, { owners: `${OWNER},${OTHER_OWNER}` }),
      RULES_DIR: rules.dir,
    },
    {
      slackMinIntervalMs: 20,
      slackUpdateIntervalMs: 100,
      slackRetryConfig: retryPolicies.rapidRetryPolicy,
      dispatch: { sweepIntervalMs: 200 },
    },
  );
  token = await app.token('acme');
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  await database?.drop();
  rules.remove();
});

const session = () => slackSession(slack, () => ({ url: app.url, token }));
const db = () => app.service.database.db;

let n = 0;
function event(type: string, actor: Record<string, unknown>, resourceId: string) {
  n += 1;
  return { id: `evt_gstatus_${n}`, type, actor, resource: { type: 'source', id: resourceId } };
}

async function send(...events: Record<string, unknown>[]) {
  expect((await postEvents(app.url, token, { events })).status).toBe(201);
}

/** The message in `channel` showing `actorId`'s events, as it is now. */
function messageOf(channel: string, actorId: string): FakeMessage | undefined {
  return slack.messages(channel).find((m) => textOf(m).includes(actorId));
}

async function groupedMessage(channel: string, actorId: string, count: number): Promise<FakeMessage> {
  await expect
    .poll(
      () => {
        const message = messageOf(channel, actorId);
        return message && groupedCount(message);
      },
      { timeout: 15_000 },
    )
    .toBe(count);
  return messageOf(channel, actorId)!;
}

/** The message's status lines, top to bottom, as [block_id, text]. */
const statusLines = (message: FakeMessage) =>
  (blocksOf(message) as Block[])
    .filter((b) => b.type === 'context' && b.block_id)
    .map((b) => [b.block_id, b.elements![0]!.text as string]);

const controls = (message: FakeMessage) =>
  (blocksOf(message) as Block[]).find((b) => b.type === 'actions')?.elements?.map((e) => e.action_id) ?? [];

const latest = (channel: string, ts: string) => slack.messages(channel).find((m) => m.ts === ts)!;

/** Marks the group's message behind, as any change to the group does, and waits for the updater to redraw it. */
async function redraw(groupId: number, ts: string) {
  const updates = () => slack.callsTo('chat.update').filter((c) => c.body.ts === ts).length;
  const before = updates();
  await db()
    .update(alertGroups)
    .set({ version: sql`${alertGroups.version} + 1` })
    .where(eq(alertGroups.id, groupId));
  await expect.poll(updates, { timeout: 10_000 }).toBeGreaterThan(before);
}

async function acknowledge(channel: string, message: FakeMessage, userId = OWNER) {
  const value = button(message, 'audit_acknowledge')!.value;
  return session().click('audit_acknowledge', value, userId, message, slack.channelId(channel));
}

describe('Acknowledge on a grouped alert', () => {
  it('updates it in place, once, and the line stays while more events join', async () => {
    const s = session();
    const actor = { type: 'token', id: 'tok_ack_group' };
    await send(...[1, 2, 3].map((i) => event('Source Disabled', actor, `src_ag_${i}`)));
    const message = await groupedMessage('#grouped', 'tok_ack_group', 3);
    expect(controls(message)[0]).toBe('audit_acknowledge');

    await acknowledge('#grouped', message);
    await expect
      .poll(() => JSON.stringify(statusLines(latest('#grouped', message.ts))), { timeout: 10_000 })
      .toContain('Acknowledged by <@U0OWNER1> at <!date^');
    const groupId = groupIdOf(message)!;
    const recorded = async () =>
      (await s.stored('?type=Alert%20Acknowledged')).filter((e) => e.metadata?.groupId === groupId);
    expect(await recorded()).toEqual([
      expect.objectContaining({
        category: 'Other',
        actor: expect.objectContaining({ type: 'user', id: OWNER }),
        resource: { type: 'alert_rule', id: 'sources-disabled' },
        metadata: expect.objectContaining({ ruleId: 'sources-disabled', groupCount: 3 }),
      }),
    ]);

    // A second click (a copy of the message still showing the button) acknowledges nothing more.
    const again = await s.click(
      'audit_acknowledge',
      button(message, 'audit_acknowledge')!.value,
      OTHER_OWNER,
      message,
      slack.channelId('#grouped'),
    );
    expect((await s.lastResponse(again)).text).toContain('<@U0OWNER1> already acknowledged this alert');
    expect(await recorded()).toHaveLength(1);

    await send(...[4, 5].map((i) => event('Source Disabled', actor, `src_ag_${i}`)));
    const grown = await groupedMessage('#grouped', 'tok_ack_group', 5);
    expect(statusLines(grown)).toEqual([
      ['audit_acknowledged', expect.stringContaining('Acknowledged by <@U0OWNER1>')],
    ]);
    expect(controls(grown)).toEqual(['audit_show_all', 'audit_silence']);
    expect(invalidContent({ text: grown.text, blocks: grown.blocks })).toBeUndefined();
    await expect
      .poll(() => metricsText(app.url))
      .toMatch(/^audit_alerts_total\{rule="sources-disabled",outcome="acknowledged"\} [1-9]$/m);
  });

  it('refuses someone who is not an owner, records the attempt, and changes nothing', async () => {
    const s = session();
    const actor = { type: 'token', id: 'tok_ack_stranger' };
    await send(...[1, 2].map((i) => event('Source Disabled', actor, `src_as_${i}`)));
    const message = await groupedMessage('#grouped', 'tok_ack_stranger', 2);
    const url = await acknowledge('#grouped', message, STRANGER);
    expect((await s.lastResponse(url)).text).toContain('Only audit owners');
    await expect
      .poll(async () =>
        (await s.stored('?type=Audit%20Access%20Denied')).some(
          (e) => e.actor.id === STRANGER && e.metadata?.attempted === 'acknowledge',
        ),
      )
      .toBe(true);
    expect(statusLines(latest('#grouped', message.ts))).toEqual([]);
    const groupId = groupIdOf(message)!;
    expect((await s.stored('?type=Alert%20Acknowledged')).some((e) => e.metadata?.groupId === groupId)).toBe(false);
  });
});

describe('a single alert that becomes the grouped message', () => {
  it('keeps the Acknowledged line it had, and offers no second Acknowledge', async () => {
    const s = session();
    const actor = { type: 'token', id: 'tok_ack_first' };
    const first = event('Source Disabled', actor, 'src_af_1');
    await send(first);
    const single = await s.alertFor('#grouped', first.id);
    expect(groupedCount(single)).toBeUndefined();
    await acknowledge('#grouped', single);
    await expect
      .poll(() => JSON.stringify(statusLines(latest('#grouped', single.ts))), { timeout: 10_000 })
      .toContain('Acknowledged by <@U0OWNER1>');

    await send(event('Source Disabled', actor, 'src_af_2'));
    const grouped = await groupedMessage('#grouped', 'tok_ack_first', 2);
    expect(grouped.ts).toBe(single.ts);
    expect(statusLines(grouped)).toEqual([
      ['audit_acknowledged', expect.stringContaining('Acknowledged by <@U0OWNER1> at <!date^')],
    ]);
    expect(controls(grouped)).not.toContain('audit_acknowledge');
    expect(
      (await s.stored('?type=Alert%20Acknowledged')).filter((e) => e.metadata?.alertedEventId === first.id),
    ).toHaveLength(1);
  });

  it('keeps the Silenced line it had; the silence covers only its resource, so the group grows', async () => {
    const s = session();
    const actor = { type: 'token', id: 'tok_silence_first' };
    const first = event('Source Disabled', actor, 'src_sf_1');
    await send(first);
    const single = await s.alertFor('#grouped', first.id);
    await s.select('audit_silence', '1h', OWNER, single, slack.channelId('#grouped'));
    await expect
      .poll(() => JSON.stringify(statusLines(latest('#grouped', single.ts))), { timeout: 10_000 })
      .toContain('Silenced by <@U0OWNER1> for 1 hour');

    await send(event('Source Disabled', actor, 'src_sf_2'));
    const grouped = await groupedMessage('#grouped', 'tok_silence_first', 2);
    expect(statusLines(grouped)).toEqual([
      ['audit_silenced', expect.stringMatching(/Silenced by <@U0OWNER1> for 1 hour .*resource `src_sf_1`/)],
    ]);
    expect(controls(grouped)).toEqual(['audit_acknowledge', 'audit_show_all', 'audit_silence']);
  });
});

describe('Silence… on a grouped alert', () => {
  it('silences the rule for every resource: later matches are held back and counted, and the line stays', async () => {
    const s = session();
    const actor = { type: 'token', id: 'tok_quiet' };
    const firstTwo = [1, 2].map((i) => event('Warehouses Disabled', actor, `wh_q_${i}`));
    await send(...firstTwo);
    const message = await groupedMessage('#quiet', 'tok_quiet', 2);
    const groupId = groupIdOf(message)!;

    await s.select('audit_silence', '24h', OWNER, message, slack.channelId('#quiet'));
    await expect
      .poll(() => JSON.stringify(statusLines(latest('#quiet', message.ts))), { timeout: 10_000 })
      .toMatch(/Silenced by <@U0OWNER1> for 24 hours .*every resource/);
    const [recorded] = (await s.stored('?type=Alert%20Silenced')).filter((e) => e.metadata?.groupId === groupId);
    expect(recorded).toMatchObject({
      category: 'Other',
      actor: { type: 'user', id: OWNER },
      resource: { type: 'alert_rule', id: 'warehouses-disabled' },
      metadata: { ruleId: 'warehouses-disabled', resourceId: null, duration: '24h' },
    });

    // The group's actor on a new resource, and another actor: the whole rule is silenced.
    const later = [
      event('Warehouses Disabled', actor, 'wh_q_3'),
      event('Warehouses Disabled', actor, 'wh_q_1'),
      event('Warehouses Disabled', { type: 'token', id: 'tok_quiet_other' }, 'wh_q_9'),
    ];
    await send(...later);
    const laterIds = later.map((e) => e.id);
    await expect
      .poll(
        async () =>
          (await db().select().from(alerts).where(inArray(alerts.eventId, laterIds))).map((row) => row.status),
        { timeout: 10_000 },
      )
      .toEqual(['silenced', 'silenced', 'silenced']);
    expect(slack.messages('#quiet')).toHaveLength(1);
    expect(laterIds.some((id) => textOf(slack.messages('#quiet')[0]!).includes(id))).toBe(false);
    await expect
      .poll(() => metricsText(app.url))
      .toMatch(/^audit_alerts_total\{rule="warehouses-disabled",outcome="silenced"\} 3$/m);

    // Any later redraw (here forced, as a Revert all step would) is drawn from Postgres and keeps the line.
    await redraw(groupId, message.ts);
    const redrawn = latest('#quiet', message.ts);
    expect(groupedCount(redrawn)).toBe(2);
    expect(statusLines(redrawn)).toEqual([
      ['audit_silenced', expect.stringMatching(/Silenced by <@U0OWNER1> for 24 hours .*every resource/)],
    ]);
    expect(controls(redrawn)).toEqual(['audit_acknowledge', 'audit_show_all', 'audit_silence']);
    expect(invalidContent({ text: redrawn.text, blocks: redrawn.blocks })).toBeUndefined();

    // Once the silence has ended, a redraw says so rather than promising to hold alerts back.
    expect((await s.command(`unsilence ${recorded!.metadata!.silenceId}`, OWNER)).text).toContain('has ended');
    await redraw(groupId, message.ts);
    expect(statusLines(latest('#quiet', message.ts))).toEqual([
      ['audit_silenced', expect.stringMatching(/Silenced by <@U0OWNER1> for 24 hours: silence #\d+ .* ended/)],
    ]);
  });
});

describe('the actor of a grouped alert', () => {
  it('is a Slack mention when their email belongs to a Slack user', async () => {
    const alice = { type: 'user', id: 'usr_alice', name: 'Alice', email: 'alice@acme.com' };
    await send(...[1, 2].map((i) => event('Source Disabled', alice, `src_m_${i}`)));
    const message = await groupedMessage('#grouped', 'usr_alice', 2);
    const actorField = JSON.stringify(blocksOf(message)[1]);
    expect(actorField).toContain('<@U0ALICE> (Alice)');
    expect(actorField).not.toContain('alice@acme.com');

    const bob = { type: 'user', id: 'usr_bob', name: 'Bob', email: 'bob@acme.com' };
    await send(...[1, 2].map((i) => event('Source Disabled', bob, `src_b_${i}`)));
    const unknown = await groupedMessage('#grouped', 'usr_bob', 2);
    expect(JSON.stringify(blocksOf(unknown)[1])).toContain('Bob (bob@acme.com)');
  });
});
