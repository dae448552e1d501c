import webApi from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getAlert } from '../../src/store/alerts.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { type FakeSlack, type StoredView, startFakeSlack } from '../helpers/fake-slack.ts';
import { groupedCount } from '../helpers/grouped-alerts.ts';
import { rulesDir } from '../helpers/rules-dir.ts';
import { postEvents, startTestService, type TestService } from '../helpers/service.ts';
import { slackEnv } from '../helpers/slack-requests.ts';
import { controlOf, slackSession } from '../helpers/slack-session.ts';

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
  'sources-disabled.yml': `
id: sources-disabled
when: { type: [Source Disabled] }
group: { within: 10m, by: actor.id }
channel: "#grouped-alerts"
severity: warning
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
      { id: OWNER, name: 'owner', email: 'owner@acme.com' },
      { id: STRANGER, name: 'stranger' },
    ],
  });
  slack.channelId('#data-alerts');
  slack.channelId('#grouped-alerts');
  app = await startTestService(
    database.url,
    {
      ...slackEnv(slack, { owners: OWNER }),
      RULES_DIR: rules.dir,
    },
    { slackMinIntervalMs: 10, slackRetryConfig: retryPolicies.rapidRetryPolicy, home: { debounceMs: 20 } },
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
const home = (userId: string) => slack.homeView(userId);
const homeText = (userId: string) => JSON.stringify(home(userId)?.view.blocks ?? []);
const asView = (stored: StoredView, type: 'home' | 'modal') => ({
  id: stored.id,
  hash: stored.hash,
  type,
  title: (stored.view.title as { text?: string } | undefined)?.text,
});

let n = 0;
async function send(resourceId: string, extra: Record<string, unknown> = {}): Promise<string> {
  n += 1;
  const id = `evt_home_${n}`;
  const event = {
    id,
    type: 'Warehouses Disabled',
    actor: { type: 'user', id: 'usr_1' },
    resource: { type: 'warehouse', id: resourceId },
    ...extra,
  };
  expect((await postEvents(app.url, token, event)).status).toBe(201);
  return id;
}

describe('the App Home', () => {
  it('tells someone who is not an owner, in one line, how to become one', async () => {
    await session().openHome(STRANGER);
    await expect.poll(() => home(STRANGER) !== undefined, { timeout: 10_000 }).toBe(true);
    const blocks = home(STRANGER)!.view.blocks as unknown[];
    expect(blocks).toHaveLength(1);
    expect(homeText(STRANGER)).toContain('Only audit owners can use Audit Trail');
    expect(homeText(STRANGER)).toContain(`\`${STRANGER}\``);
    expect(homeText(STRANGER)).toContain('AUDIT_OWNERS');
  });

  it('shows an owner the latest alerts and their state, silences, forwarding, import and queries', async () => {
    const s = session();
    const posted = await send('wh_home_posted', {
      resource: { type: 'warehouse', id: 'wh_home_posted', name: '<!channel> Prod' },
    });
    await s.alertFor('#data-alerts', posted);
    await s.command('silence warehouse-disabled resource:wh_home_quiet for:1h', OWNER);
    const held = await send('wh_home_quiet');
    await expect
      .poll(
        () =>
          getAlert(app.service.database.db, { workspaceId: 'acme', eventId: held, ruleId: 'warehouse-disabled' }).then(
            (a) => a?.status,
          ),
        { timeout: 10_000 },
      )
      .toBe('silenced');

    await s.openHome(OWNER);
    await expect.poll(() => homeText(OWNER), { timeout: 10_000 }).toContain('wh_home_quiet');
    const text = homeText(OWNER);
    expect(home(OWNER)!.view.type).toBe('home');
    for (const part of [
      'Latest alerts',
      ':bell: posted',
      ':no_bell: silenced',
      'Silences',
      'Audit forwarding',
      'Off (never turned on)',
      'Segment import',
      'Not configured',
    ]) {
      expect(text).toContain(part);
    }
    // Producer text stays inert on the home tab too.
    expect(text).toContain('&lt;!channel&gt; Prod');
    expect(text).not.toContain('<!channel>');
    const unsilence = controlOf(home(OWNER)!.view.blocks as unknown[], 'audit_unsilence');
    expect(unsilence?.value).toMatch(/^\d+$/);
    expect(controlOf(home(OWNER)!.view.blocks as unknown[], 'audit_home_query:last-24h')).toBeDefined();
  });

  it('refreshes an owner’s open home when an alert is posted or acknowledged, or a silence ends', async () => {
    const s = session();
    await s.openHome(OWNER);
    await expect.poll(() => home(OWNER) !== undefined, { timeout: 10_000 }).toBe(true);

    const fresh = await send('wh_home_fresh');
    await expect.poll(() => homeText(OWNER), { timeout: 10_000 }).toContain('wh_home_fresh');
    const alert = await s.alertFor('#data-alerts', fresh);
    await s.click(
      'audit_acknowledge',
      controlOf(alert.blocks, 'audit_acknowledge')!.value!,
      OWNER,
      alert,
      slack.channelId('#data-alerts'),
    );
    await expect.poll(() => homeText(OWNER), { timeout: 10_000 }).toContain(':eyes: acknowledged by <@U0OWNER1>');

    // Unsilence from the home itself: no response_url, so the home shows the outcome.
    const id = controlOf(home(OWNER)!.view.blocks as unknown[], 'audit_unsilence')!.value!;
    await s.clickInView('audit_unsilence', id, OWNER, asView(home(OWNER)!, 'home'));
    await expect
      .poll(() => controlOf(home(OWNER)!.view.blocks as unknown[], 'audit_unsilence'), { timeout: 10_000 })
      .toBeUndefined();
    await expect
      .poll(async () => (await s.stored('?type=Alert%20Unsilenced')).some((e) => String(e.metadata?.silenceId) === id))
      .toBe(true);
    expect(homeText(OWNER)).toContain('None running');
  });

  it('shows alerts shown in a grouped message as posted there, not as posting', async () => {
    const sources = ['src_home_g1', 'src_home_g2', 'src_home_g3'];
    const events = sources.map((id) => ({
      id: `evt_${id}`,
      type: 'Source Disabled',
      actor: { type: 'token', id: 'tok_home' },
      resource: { type: 'source', id },
    }));
    expect((await postEvents(app.url, token, { events })).status).toBe(201);
    await expect.poll(() => slack.messages('#grouped-alerts').map(groupedCount), { timeout: 15_000 }).toEqual([3]);

    await session().openHome(OWNER);
    const lineOf = (id: string) =>
      (home(OWNER)?.view.blocks as { text?: { text: string } }[] | undefined)
        ?.map((b) => b.text?.text ?? '')
        .find((text) => text.includes(`\`${id}\``));
    await expect.poll(() => sources.every((id) => lineOf(id) !== undefined), { timeout: 10_000 }).toBe(true);
    const channel = slack.channelId('#grouped-alerts');
    // The first is the grouped message's own alert; the others joined it.
    expect(lineOf('src_home_g1')).toContain(`:bell: posted · rule \`sources-disabled\` in <#${channel}>`);
    for (const id of ['src_home_g2', 'src_home_g3']) {
      expect(lineOf(id)).toContain(`:bell: posted, grouped with 2 more · rule \`sources-disabled\` in <#${channel}>`);
    }
    expect(homeText(OWNER)).not.toContain('posting');
  });

  it('opens a common query in a modal from its button, and pages it with Next in place', async () => {
    const s = session();
    const events = Array.from({ length: 24 }, (_, i) => ({
      id: `evt_home_query_${i}`,
      type: 'Source Modified',
      actor: { type: 'token', id: 'tok_ci' },
      resource: { type: 'source', id: `src_q${i}` },
    }));
    expect((await postEvents(app.url, token, { events })).status).toBe(201);
    await s.openHome(OWNER);
    await expect.poll(() => home(OWNER) !== undefined, { timeout: 10_000 }).toBe(true);
    const opened = slack.modals().length;

    await s.clickInView('audit_home_query:tokens-7d', 'tokens-7d', OWNER, asView(home(OWNER)!, 'home'));
    await expect
      .poll(() => JSON.stringify(slack.modals()[opened]?.view.blocks ?? []), { timeout: 10_000 })
      .toContain('evt_home_query_23');
    const modal = slack.modals()[opened]!;
    expect(modal.view.title).toMatchObject({ type: 'plain_text' });
    const next = controlOf(modal.view.blocks as unknown[], 'audit_next_page');
    expect(next).toBeDefined();

    await s.clickInView('audit_next_page', next!.value!, OWNER, asView(modal, 'modal'));
    await expect
      .poll(() => JSON.stringify(slack.modals()[opened]!.view.blocks), { timeout: 10_000 })
      .toContain('page 2');
    const both = `${JSON.stringify(modal.view.blocks)}${JSON.stringify(slack.modals()[opened]!.view.blocks)}`;
    for (const { id } of events) expect(both).toContain(`\`${id}\``);
  });

  it('refuses a query click from a non-owner, records it, and shows them the non-owner home', async () => {
    const s = session();
    const view = { id: 'V0000000999', hash: '1.1', type: 'home' as const };
    const published = () => slack.callsTo('views.publish').filter((c) => c.body.user_id === STRANGER).length;
    const before = published();
    const modals = slack.modals().length;
    await s.clickInView('audit_home_query:last-24h', 'last-24h', STRANGER, view);
    await expect
      .poll(async () =>
        (await s.stored('?type=Audit%20Access%20Denied')).some(
          (e) => e.actor.id === STRANGER && e.metadata?.attempted === 'home query',
        ),
      )
      .toBe(true);
    await expect.poll(published, { timeout: 10_000 }).toBe(before + 1);
    expect(homeText(STRANGER)).toContain('Only audit owners');
    expect(slack.modals()).toHaveLength(modals);
  });
});
