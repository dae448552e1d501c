import webApi from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAlert } from '../../src/store/alerts.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { rulesDir } from '../helpers/rules-dir.ts';
import { postEvents, startTestService, type TestService } from '../helpers/service.ts';
import { slackEnv } from '../helpers/slack-requests.ts';
import { type Answer, controlOf, metricsText, slackSession } from '../helpers/slack-session.ts';

const { retryPolicies } = webApi;

const OWNER = 'U0OWNER1';
const STRANGER = 'U0STRANGER';

const rules = rulesDir({
  'warehouse-disabled.yml': `
id: warehouse-disabled
when: { type: [Warehouses Disabled] }
channel: "#data-alerts"
severity: critical
`,
  // Rules run in file-name order: the run-log alert of an event shows its run-failures step is done.
  'a-run-failures.yml': `
id: run-failures
when: { type: [Warehouse Run Failed] }
throttle: { within: 15m, by: resource.id }
channel: "#runs"
severity: warning
`,
  'z-run-log.yml': `
id: run-log
when: { type: [Warehouse Run Failed] }
channel: "#run-log"
severity: info
`,
});

let database: TestDatabase;
let slack: FakeSlack;
let app: TestService;
let token: string;

async function startApp(): Promise<TestService> {
  return startTestService(
    database.url,
    {
      ...slackEnv(slack, { owners: OWNER }),
      RULES_DIR: rules.dir,
    },
    {
      slackMinIntervalMs: 10,
      slackRetryConfig: retryPolicies.rapidRetryPolicy,
      silenceSummaries: { intervalMs: 100 },
    },
  );
}

beforeAll(async () => {
  database = await createTestDatabase();
  slack = await startFakeSlack();
  expect(slack.channelId('#data-alerts')).toBe('C0000000001');
  app = await startApp();
  token = await app.token('acme');
});

afterAll(async () => {
  await app?.stop();
  await slack?.close();
  await database?.drop();
  rules.remove();
});

const session = () => slackSession(slack, () => ({ url: app.url, token }));
const alerts = () => slack.channelId('#data-alerts');
let n = 0;

async function send(type: string, resourceId: string): Promise<string> {
  n += 1;
  const id = `evt_silence_${n}`;
  const event = {
    id,
    type,
    actor: { type: 'user', id: 'usr_1', name: 'Jane' },
    resource: { type: 'warehouse', id: resourceId },
  };
  expect((await postEvents(app.url, token, event)).status).toBe(201);
  return id;
}

const alertStatus = (eventId: string, ruleId = 'warehouse-disabled') =>
  getAlert(app.service.database.db, { workspaceId: 'acme', eventId, ruleId }).then((row) => row?.status);

/** The silence id an `/audit silence` answer names. */
function silenceIdIn(answer: Answer): number {
  const id = /silence #(\d+)/.exec(answer.text ?? '')?.[1];
  expect(id).toBeDefined();
  return Number(id);
}

const summaryOf = (silenceId: number) =>
  slack
    .messages('#data-alerts')
    .filter(
      (m) => m.metadata?.event_type === 'audit_silence_summary' && m.metadata.event_payload.silence_id === silenceId,
    );

describe('silencing an alert from its Silence… menu', () => {
  it('holds back that rule for that resource while another still alerts, and says so on the alert', async () => {
    const s = session();
    const first = await s.alertFor('#data-alerts', await send('Warehouses Disabled', 'wh_menu'));

    await s.select('audit_silence', '8h', OWNER, first, alerts());

    const updated = () => slack.messages('#data-alerts').find((m) => m.ts === first.ts)!;
    await expect
      .poll(() => JSON.stringify(updated().blocks), { timeout: 10_000 })
      .toContain('Silenced by <@U0OWNER1> for 8 hours');
    // The menu and the other buttons stay: the alert can still be acknowledged, and silenced for another time.
    expect(controlOf(updated().blocks, 'audit_silence')).toBeDefined();
    expect(controlOf(updated().blocks, 'audit_acknowledge')).toBeDefined();
    const [recorded] = (await s.stored('?type=Alert%20Silenced')).filter((e) => e.metadata?.resourceId === 'wh_menu');
    expect(recorded).toMatchObject({
      category: 'Other',
      actor: { type: 'user', id: OWNER },
      resource: { type: 'alert_rule', id: 'warehouse-disabled' },
      metadata: { ruleId: 'warehouse-disabled', resourceId: 'wh_menu', duration: '8h' },
    });

    const held = await send('Warehouses Disabled', 'wh_menu');
    const other = await s.alertFor('#data-alerts', await send('Warehouses Disabled', 'wh_other'));
    expect(other).toBeDefined();
    await expect.poll(() => alertStatus(held), { timeout: 10_000 }).toBe('silenced');
    expect(slack.messages('#data-alerts').some((m) => m.metadata?.event_payload.event_id === held)).toBe(false);
    // Stored like any event: the trail has it.
    expect((await s.stored('?resourceId=wh_menu')).some((e) => e.id === held)).toBe(true);

    // The worker counts an alert just after it records or posts it: the counters may trail what the test saw.
    const metrics = () => metricsText(app.url);
    await expect.poll(metrics).toMatch(/^audit_alerts_total\{rule="warehouse-disabled",outcome="silenced"\} 1$/m);
    await expect.poll(metrics).toMatch(/^audit_alerts_total\{rule="warehouse-disabled",outcome="posted"\} 2$/m);
    // Every series of every loaded rule is there from the start.
    expect(await metrics()).toMatch(/^audit_alerts_total\{rule="run-failures",outcome="acknowledged"\} 0$/m);
  });

  it('refuses someone who is not an owner, records the attempt, and silences nothing', async () => {
    const s = session();
    const alert = await s.alertFor('#data-alerts', await send('Warehouses Disabled', 'wh_stranger'));
    const url = await s.select('audit_silence', '1h', STRANGER, alert, alerts());
    expect((await s.lastResponse(url)).text).toContain('Only audit owners');
    await expect
      .poll(async () =>
        (await s.stored('?type=Audit%20Access%20Denied')).some(
          (e) => e.actor.id === STRANGER && e.metadata?.attempted === 'silence',
        ),
      )
      .toBe(true);
    expect((await s.stored('?type=Alert%20Silenced')).some((e) => e.metadata?.resourceId === 'wh_stranger')).toBe(
      false,
    );
    const next = await send('Warehouses Disabled', 'wh_stranger');
    await expect.poll(() => alertStatus(next), { timeout: 10_000 }).toBe('sent');
  });
});

describe('/audit silence, silences and unsilence', () => {
  it('names an unknown rule id with the nearest one, and a bad duration', async () => {
    const s = session();
    expect((await s.command('silence warehouse-disabld for:8h', OWNER)).text).toContain(
      'unknown rule id "warehouse-disabld" — did you mean warehouse-disabled?',
    );
    expect((await s.command('silence warehouse-disabled for:8x', OWNER)).text).toContain('"for:8x" is not a duration');
    expect((await s.command('silence warehouse-disabled resource:wh_1', OWNER)).text).toContain(
      'needs for:&lt;duration&gt;',
    );
    expect((await s.command('silence warehouse-disabled for:400d', OWNER)).text).toContain('at most 90d');
    expect((await s.command('unsilence twelve', OWNER)).text).toContain('is not a silence id');
  });

  it('silences by text; lists it with Unsilence, which ends it; a summary with "Show them" follows', async () => {
    const s = session();
    const made = await s.command('silence warehouse-disabled resource:wh_text for:1h', OWNER);
    expect(made.text).toContain('Silenced rule `warehouse-disabled` for resource `wh_text` for 1h');
    const silenceId = silenceIdIn(made);
    const held = [
      await send('Warehouses Disabled', 'wh_text'),
      await send('Warehouses Disabled', 'wh_text'),
      await send('Warehouses Disabled', 'wh_text'),
    ];
    for (const id of held) await expect.poll(() => alertStatus(id), { timeout: 10_000 }).toBe('silenced');

    const list = await s.command('silences', OWNER);
    const row = list.blocks?.find((b) => b.accessory?.value === String(silenceId));
    expect(row?.text?.text).toContain('resource `wh_text`');
    expect(row?.text?.text).toContain('3 alerts held back');
    expect(row?.accessory?.action_id).toBe('audit_unsilence');

    const url = await s.click('audit_unsilence', String(silenceId), OWNER, { ts: '1.0' }, alerts());
    const answer = await s.lastResponse(url);
    expect(answer).toMatchObject({
      replace_original: true,
      text: expect.stringContaining(`Silence #${silenceId} has ended`),
    });
    expect(answer.blocks?.some((b) => b.accessory?.value === String(silenceId))).toBe(false);
    const [unsilenced] = (await s.stored('?type=Alert%20Unsilenced')).filter(
      (e) => e.metadata?.silenceId === silenceId,
    );
    expect(unsilenced).toMatchObject({ category: 'Other', actor: { type: 'user', id: OWNER } });

    await expect.poll(() => summaryOf(silenceId).length, { timeout: 10_000 }).toBe(1);
    const [summary] = summaryOf(silenceId);
    expect(summary!.text).toContain('held back 3 alerts');
    expect(JSON.stringify(summary!.blocks)).toContain('unsilenced by <@U0OWNER1>');
    const showThem = controlOf(summary!.blocks, 'audit_show_held_back');
    expect(showThem).toBeDefined();

    const shown = await s.lastResponse(
      await s.click('audit_show_held_back', showThem!.value!, OWNER, summary!, alerts()),
    );
    expect(shown.response_type).toBe('ephemeral');
    const text = JSON.stringify(shown.blocks);
    for (const id of held) expect(text).toContain(id);
    expect(text).toContain('1–3 of 3');

    // Alerts flow again, and the summary was posted once.
    const after = await send('Warehouses Disabled', 'wh_text');
    await expect.poll(() => alertStatus(after), { timeout: 10_000 }).toBe('sent');
    expect(summaryOf(silenceId)).toHaveLength(1);
  });

  it('posts the summary when a silence runs out, once', async () => {
    const s = session();
    const silenceId = silenceIdIn(await s.command('silence run-failures resource:run_expiry for:1s', OWNER));
    await expect
      .poll(() => slack.messages('#runs').filter((m) => m.metadata?.event_payload.silence_id === silenceId).length, {
        timeout: 10_000,
      })
      .toBe(1);
    const [summary] = slack.messages('#runs').filter((m) => m.metadata?.event_payload.silence_id === silenceId);
    expect(JSON.stringify(summary!.blocks)).toContain('its time ran out');
    expect(summary!.text).toContain('held back 0 alerts');
    expect(controlOf(summary!.blocks, 'audit_show_held_back')).toBeUndefined();
  });

  it('pages the alerts a silence held back when there are many', async () => {
    const s = session();
    const silenceId = silenceIdIn(await s.command('silence warehouse-disabled resource:wh_many for:1h', OWNER));
    const events = Array.from({ length: 25 }, (_, i) => ({
      id: `evt_many_${i}`,
      type: 'Warehouses Disabled',
      actor: { type: 'user', id: 'usr_1' },
      resource: { type: 'warehouse', id: 'wh_many' },
    }));
    expect((await postEvents(app.url, token, { events })).status).toBe(201);
    for (const { id } of events) await expect.poll(() => alertStatus(id), { timeout: 10_000 }).toBe('silenced');
    expect((await s.command(`unsilence ${silenceId}`, OWNER)).text).toContain('summary of the 25 alerts');
    await expect.poll(() => summaryOf(silenceId).length, { timeout: 10_000 }).toBe(1);
    const [summary] = summaryOf(silenceId);

    const first = await s.lastResponse(
      await s.click(
        'audit_show_held_back',
        controlOf(summary!.blocks, 'audit_show_held_back')!.value!,
        OWNER,
        summary!,
        alerts(),
      ),
    );
    expect(JSON.stringify(first.blocks)).toContain('1–20 of 25');
    expect(first.replace_original).toBe(false);
    const next = controlOf(first.blocks, 'audit_show_held_back');
    const second = await s.lastResponse(
      await s.click('audit_show_held_back', next!.value!, OWNER, { ts: '1.0' }, alerts()),
    );
    expect(JSON.stringify(second.blocks)).toContain('21–25 of 25');
    expect(second.replace_original).toBe(true);
    expect(controlOf(second.blocks, 'audit_show_held_back')).toBeUndefined();
    const seen = `${JSON.stringify(first.blocks)}${JSON.stringify(second.blocks)}`;
    for (const { id } of events) expect(seen).toContain(`\`${id}\``);
  });

  it('unsilences by text once; a second time or an unknown id changes nothing', async () => {
    const s = session();
    const silenceId = silenceIdIn(await s.command('silence warehouse-disabled for:1h', OWNER));
    expect((await s.command(`unsilence ${silenceId}`, OWNER)).text).toContain(
      `Silence #${silenceId} (rule \`warehouse-disabled\`) has ended`,
    );
    expect((await s.command(`unsilence #${silenceId}`, OWNER)).text).toContain('already ended');
    expect((await s.command('unsilence 999999', OWNER)).text).toContain('There is no silence #999999');
    expect(
      (await s.stored('?type=Alert%20Unsilenced')).filter((e) => e.metadata?.silenceId === silenceId),
    ).toHaveLength(1);
  });

  it('lets throttle state advance while silenced', async () => {
    const s = session();
    const silenceId = silenceIdIn(await s.command('silence run-failures resource:run_1 for:1h', OWNER));
    const first = await send('Warehouse Run Failed', 'run_1');
    await expect.poll(() => alertStatus(first, 'run-failures'), { timeout: 10_000 }).toBe('silenced');
    await s.command(`unsilence ${silenceId}`, OWNER);

    // Within the throttle window of the held-back alert: throttled, so neither posted nor held back.
    const second = await send('Warehouse Run Failed', 'run_1');
    await s.alertFor('#run-log', second);
    expect(await alertStatus(second, 'run-failures')).toBeUndefined();
  });

  it('refuses /audit silence from someone who is not an owner, and records the attempt', async () => {
    const s = session();
    expect((await s.command('silence warehouse-disabled for:1h', STRANGER)).text).toContain('Only audit owners');
    await expect
      .poll(async () =>
        (await s.stored('?type=Audit%20Access%20Denied')).some(
          (e) => e.actor.id === STRANGER && e.metadata?.detail === 'silence warehouse-disabled for:1h',
        ),
      )
      .toBe(true);
  });
});

describe('after a restart', () => {
  it('keeps holding back what a silence made before it covers', async () => {
    const s = session();
    silenceIdIn(await s.command('silence warehouse-disabled resource:wh_restart for:1h', OWNER));
    await app.stop();
    app = await startApp();
    token = await app.token('acme');

    const held = await send('Warehouses Disabled', 'wh_restart');
    const posted = await send('Warehouses Disabled', 'wh_not_silenced');
    await expect.poll(() => alertStatus(posted), { timeout: 10_000 }).toBe('sent');
    await expect.poll(() => alertStatus(held), { timeout: 10_000 }).toBe('silenced');
  });
});
