import webApi from '@slack/web-api';
import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertGroups } from '../../src/store/schema/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { type FakeSegment, startFakeSegment } from '../helpers/fake-segment.ts';
import { type FakeMessage, type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { button, groupedCount, textOf } from '../helpers/grouped-alerts.ts';
import { rulesDir } from '../helpers/rules-dir.ts';
import { getEvents, postEvents, startTestService, type TestService } from '../helpers/service.ts';
import { blockActionBody, postToSlackEndpoint, slackEnv } from '../helpers/slack-requests.ts';

const { retryPolicies } = webApi;

let database: TestDatabase;
let slack: FakeSlack;
let segment: FakeSegment;
let app: TestService;
let token: string;
const OWNER = 'U0OWNER1';
const OTHER_OWNER = 'U0OWNER2';
const STRANGER = 'U0STRANGER';

const rules = rulesDir({
  'sources-disabled.yml': `
when: { type: [Source Disabled] }
group: { within: 10m, by: actor.id }
channel: "#reverts"
severity: critical
revert: true
`,
  // The same events, alone, for a few resources: their own Revert buttons revert some before Revert all runs.
  'watched-sources.yml': `
when: { type: [Source Disabled], resource: { id: [src_a_1, src_a_2] } }
channel: "#singles"
severity: warning
revert: true
`,
});

beforeAll(async () => {
  database = await createTestDatabase();
  slack = await startFakeSlack();
  segment = await startFakeSegment();
  for (const channel of ['#reverts', '#singles']) slack.channelId(channel);
  app = await startTestService(
    database.url,
    {
      ROLES: 'api,relay,worker,slack',
      ...slackEnv(slack, { owners: `${OWNER},${OTHER_OWNER}`, teams: `${slack.teamId}:acme` }),
      SEGMENT_API_URL: segment.publicApiUrl,
      SEGMENT_API_TOKEN: segment.apiToken,
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
  await segment?.close();
  await database?.drop();
  rules.remove();
});

function disabled(actor: string, sourceId: string) {
  return {
    id: `evt_${sourceId}`,
    type: 'Source Disabled',
    actor: { type: 'token', id: actor },
    resource: { type: 'source', id: sourceId, name: `Source ${sourceId}` },
    changes: { before: { enabled: true }, after: { enabled: false } },
  };
}

async function send(events: Record<string, unknown>[]) {
  const response = await postEvents(app.url, token, { events });
  expect(response.status).toBe(201);
}

/** The grouped message of an actor's group in #reverts, as it is now. */
function groupMessage(actor: string): FakeMessage | undefined {
  return slack.messages('#reverts').find((m) => groupedCount(m) !== undefined && textOf(m).includes(actor));
}

let clicks = 0;
async function click(actionId: string, value: string, message: FakeMessage, channel: string, userId = OWNER) {
  const id = `revert-all-click-${++clicks}`;
  const response = await postToSlackEndpoint(
    app.url,
    blockActionBody({
      actionId,
      value,
      userId,
      teamId: slack.teamId,
      channelId: slack.channelId(channel),
      message: { ts: message.ts, blocks: message.blocks ?? [] },
      responseUrl: slack.responseUrl(id),
    }),
  );
  expect(response.status).toBe(200);
  return id;
}

async function answer(clickId: string): Promise<string> {
  await expect.poll(() => slack.responses(clickId).length, { timeout: 10_000 }).toBeGreaterThan(0);
  return String(slack.responses(clickId).at(-1)!.body.text);
}

async function revertEvents() {
  const body = await (await getEvents(app.url, token, '?type=Source%20Enabled&limit=1000')).json();
  return body.events as { id: string; actor: { id: string }; metadata: { revertOf: string } }[];
}

describe('Revert all', () => {
  it('reverts each event once when clicked twice at once after single reverts, showing its progress', async () => {
    const sources = Array.from({ length: 12 }, (_, i) => `src_a_${i + 1}`);
    for (const id of sources) segment.setSource({ id, enabled: false });
    await send(sources.map((id) => disabled('tok_a', id)));
    await expect
      .poll(() => groupMessage('tok_a') && groupedCount(groupMessage('tok_a')!), { timeout: 15_000 })
      .toBe(12);
    await expect.poll(() => slack.messages('#singles').length, { timeout: 15_000 }).toBe(2);

    // Two of them reverted one by one, from their own alerts.
    for (const single of slack.messages('#singles')) {
      await click('audit_revert', button(single, 'audit_revert')!.value, single, '#singles');
    }
    await expect.poll(async () => (await revertEvents()).length, { timeout: 10_000 }).toBe(2);
    // The grouped message learns of them, and its confirm names only what is left.
    await expect
      .poll(() => button(groupMessage('tok_a')!, 'audit_revert_all')?.confirm?.title.text, { timeout: 10_000 })
      .toBe('Revert 10 changes?');

    // One revert held mid-way, so the progress can be seen.
    const held = segment.hold('PATCH /sources/src_a_7');
    const message = groupMessage('tok_a')!;
    const value = button(message, 'audit_revert_all')!.value;
    const [first, second] = await Promise.all([
      click('audit_revert_all', value, message, '#reverts'),
      click('audit_revert_all', value, message, '#reverts', OTHER_OWNER),
    ]);
    const answers = [await answer(first), await answer(second)].sort();
    expect(answers[0]).toMatch(/is already reverting this group/);
    expect(answers[1]).toBe('Reverting 12 changes; the alert shows the progress.');
    await held.waitUntilHeld(1, 10_000);
    await expect.poll(() => textOf(groupMessage('tok_a')!), { timeout: 10_000 }).toMatch(/Reverting \d+ of 12…/);
    expect(button(groupMessage('tok_a')!, 'audit_revert_all')).toBeUndefined();
    held.release();

    await expect
      .poll(() => textOf(groupMessage('tok_a')!), { timeout: 15_000 })
      .toMatch(/finished.*10 reverted, 2 already reverted\./);
    for (const id of sources) {
      expect(segment.callsTo(`PATCH /sources/${id}`), id).toHaveLength(1);
      expect(segment.getSource(id)?.enabled).toBe(true);
    }
    const recorded = await revertEvents();
    expect(recorded.map((e) => e.metadata.revertOf).sort()).toEqual(sources.map((id) => `evt_${id}`).sort());
    const [group] = await app.service.database.db.select().from(alertGroups).where(eq(alertGroups.groupValue, 'tok_a'));
    expect(group).toMatchObject({ revertRun: 1, revertState: 'done', revertTotal: 12 });
    // Everything reverted: no button left to revert with.
    expect(button(groupMessage('tok_a')!, 'audit_revert_all')).toBeUndefined();
    expect(button(groupMessage('tok_a')!, 'audit_retry_failed')).toBeUndefined();
  });

  it('waits out a Segment 429, names a 404 with its reason, and Retry failed reverts it once it can', async () => {
    const sources = Array.from({ length: 8 }, (_, i) => `src_b_${i + 1}`);
    for (const id of sources) if (id !== 'src_b_5') segment.setSource({ id, enabled: false });
    segment.failNext('PATCH /sources/src_b_3', { status: 429, retryAfter: 1 });
    await send(sources.map((id) => disabled('tok_b', id)));
    await expect.poll(() => groupMessage('tok_b') && groupedCount(groupMessage('tok_b')!), { timeout: 15_000 }).toBe(8);
    const message = groupMessage('tok_b')!;
    await answer(await click('audit_revert_all', button(message, 'audit_revert_all')!.value, message, '#reverts'));

    await expect
      .poll(() => textOf(groupMessage('tok_b')!), { timeout: 20_000 })
      .toMatch(/finished.*7 reverted, 1 failed\./);
    const failed = groupMessage('tok_b')!;
    expect(textOf(failed)).toMatch(/Not reverted\* \(1\)/);
    expect(textOf(failed)).toMatch(/src_b_5`: [^"]*404/);
    expect(segment.callsTo('PATCH /sources/src_b_3')).toHaveLength(2);
    const retry = button(failed, 'audit_retry_failed')!;
    expect(retry.confirm?.title.text).toBe('Retry 1 failed revert?');
    expect((await revertEvents()).filter((e) => e.metadata.revertOf.startsWith('evt_src_b_'))).toHaveLength(7);

    segment.setSource({ id: 'src_b_5', enabled: false });
    expect(await answer(await click('audit_retry_failed', retry.value, failed, '#reverts'))).toBe(
      'Retrying 1 change; the alert shows the progress.',
    );
    await expect
      .poll(() => textOf(groupMessage('tok_b')!), { timeout: 15_000 })
      .toMatch(/Retry of the failed reverts by <@U0OWNER1> finished.*1 reverted\./);
    const recorded = (await revertEvents()).filter((e) => e.metadata.revertOf.startsWith('evt_src_b_'));
    expect(recorded.map((e) => e.metadata.revertOf).sort()).toEqual(sources.map((id) => `evt_${id}`).sort());
    expect(recorded.every((e) => e.actor.id === OWNER)).toBe(true);
    expect(segment.callsTo('PATCH /sources/src_b_5')).toHaveLength(2);
    expect(segment.callsTo('PATCH /sources/src_b_1')).toHaveLength(1);

    // Events that join after the runs get a Revert all of their own, covering just them.
    for (const id of ['src_b_9', 'src_b_10']) segment.setSource({ id, enabled: false });
    await send(['src_b_9', 'src_b_10'].map((id) => disabled('tok_b', id)));
    await expect.poll(() => groupedCount(groupMessage('tok_b')!), { timeout: 15_000 }).toBe(10);
    const grown = groupMessage('tok_b')!;
    const again = button(grown, 'audit_revert_all')!;
    expect(again.confirm?.title.text).toBe('Revert 2 changes?');
    expect(await answer(await click('audit_revert_all', again.value, grown, '#reverts'))).toBe(
      'Reverting 2 changes; the alert shows the progress.',
    );
    await expect
      .poll(() => textOf(groupMessage('tok_b')!), { timeout: 15_000 })
      .toMatch(/Revert all by .* finished.*: 2 reverted\./);
    expect(segment.callsTo('PATCH /sources/src_b_1')).toHaveLength(1);

    const runs = await app.service.metrics.registry.getSingleMetricAsString('audit_revert_all_runs_total');
    expect(runs).toMatch(/outcome="partly_failed"} 1/);
    expect(runs).toMatch(/outcome="succeeded"} [1-9]/);
  });

  it('refuses a non-owner and records the attempt, reverting nothing', async () => {
    const sources = ['src_c_1', 'src_c_2'];
    for (const id of sources) segment.setSource({ id, enabled: false });
    await send(sources.map((id) => disabled('tok_c', id)));
    await expect.poll(() => groupMessage('tok_c') && groupedCount(groupMessage('tok_c')!), { timeout: 15_000 }).toBe(2);
    const message = groupMessage('tok_c')!;
    const refused = await answer(
      await click('audit_revert_all', button(message, 'audit_revert_all')!.value, message, '#reverts', STRANGER),
    );
    expect(refused).toMatch(/Only audit owners/);
    await new Promise((r) => setTimeout(r, 500));
    expect(segment.callsTo('PATCH /sources/src_c_1')).toHaveLength(0);
    const denied = await (await getEvents(app.url, token, '?type=Audit%20Access%20Denied')).json();
    expect(denied.events.some((e: { metadata: { attempted: string } }) => e.metadata.attempted === 'revert all')).toBe(
      true,
    );
  });
});
