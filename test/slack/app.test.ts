import webApi from '@slack/web-api';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { type FakeSegment, startFakeSegment } from '../helpers/fake-segment.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { rulesDir } from '../helpers/rules-dir.ts';
import { getEvents, postEvents, startTestService, type TestService } from '../helpers/service.ts';
import {
  blockActionBody,
  postToSlackEndpoint,
  SIGNING_SECRET,
  sign,
  slackEnv,
  slashCommandBody,
} from '../helpers/slack-requests.ts';

const { retryPolicies } = webApi;

let database: TestDatabase;
let slack: FakeSlack;
let segment: FakeSegment;
let app: TestService;
let token: string;
const OWNER = 'U0OWNER1';
const OTHER_OWNER = 'U0OWNER2';
const STRANGER = 'U0STRANGER';
const GROUPIE = 'U0GROUPIE';

const REVERTIBLE_TYPES = [
  'Warehouses Disabled',
  'Source Disabled',
  'Integrations Enabled',
  'Source Modified',
  'Destination Filters Modified',
  'Source Function Modified',
  'Tracking Plan Modified',
  'Source Deleted',
];
const rules = rulesDir({
  'revertible.yml': `
id: revertible
when:
  type: [${REVERTIBLE_TYPES.join(', ')}]
channel: "#data-alerts"
severity: critical
revert: true
`,
});

beforeAll(async () => {
  database = await createTestDatabase();
  slack = await startFakeSlack();
  segment = await startFakeSegment();
  slack.setUsergroupMembers('S0OWNERS', [GROUPIE]);
  expect(slack.channelId('#data-alerts')).toBe('C0000000001'); // the channel the commands come from
  app = await startTestService(
    database.url,
    {
      ...slackEnv(slack, { owners: `${OWNER},${OTHER_OWNER}` }),
      AUDIT_OWNER_GROUP: 'S0OWNERS',
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

let n = 0;
const responseUrl = () => slack.responseUrl(`r${++n}`);
const lastResponse = async (url: string) => {
  const id = decodeURIComponent(url.split('/').at(-1)!);
  await expect.poll(() => slack.responses(id).length, { timeout: 10_000 }).toBeGreaterThan(0);
  return slack.responses(id).at(-1)!.body as {
    text?: string;
    blocks?: { type: string; elements?: { action_id?: string; value?: string }[] }[];
    replace_original?: boolean;
  };
};

/** Runs `/audit <text>`; `body` is the answer the user sees, which comes through response_url after an empty ack. */
async function command(text: string, userId = OWNER) {
  const url = responseUrl();
  const response = await postToSlackEndpoint(app.url, slashCommandBody({ text, userId, responseUrl: url }));
  expect(response.status).toBe(200);
  expect(await response.text()).toBe('');
  const body = (await lastResponse(url)) as { response_type?: string; text?: string; blocks?: unknown[] };
  return { response, url, body };
}

async function click(
  actionId: string,
  value: string,
  userId: string,
  message: { ts: string; blocks?: unknown[] },
  channelId = 'C0000000001',
) {
  const url = responseUrl();
  const response = await postToSlackEndpoint(
    app.url,
    blockActionBody({ actionId, value, userId, channelId, message, responseUrl: url }),
  );
  expect(response.status).toBe(200);
  return url;
}

async function storedEvents(query: string) {
  return (
    (await (await getEvents(app.url, token, query)).json()) as {
      events: { id: string; type: string; actor: { id: string }; metadata: Record<string, unknown> | null }[];
    }
  ).events;
}

describe('POST /slack/events signatures', () => {
  it('accepts a request signed as Slack signs it', async () => {
    const { response } = await command('help');
    expect(response.status).toBe(200);
  });

  it('refuses a forged signature and a stale timestamp with 401', async () => {
    const body = slashCommandBody({ text: 'help', userId: OWNER, responseUrl: responseUrl() });
    expect((await postToSlackEndpoint(app.url, body, { secret: 'not-the-secret' })).status).toBe(401);
    const stale = Math.floor(Date.now() / 1000) - 6 * 60;
    expect(
      (await postToSlackEndpoint(app.url, body, { timestamp: stale, signature: sign(SIGNING_SECRET, stale, body) }))
        .status,
    ).toBe(401);
    expect(
      (
        await postToSlackEndpoint(app.url, `${body}&x=1`, {
          signature: sign(SIGNING_SECRET, Math.floor(Date.now() / 1000), body),
        })
      ).status,
    ).toBe(401);
  });
});

describe('/audit', () => {
  it('acknowledges at once, before the owner-group lookup answers, and answers once it does', async () => {
    // The first look at the owner group in this file (owners in AUDIT_OWNERS need none), held as a slow Slack holds it.
    const lookup = slack.hold('usergroups.users.list');
    const url = responseUrl();
    const body = slashCommandBody({ text: 'help', userId: GROUPIE, responseUrl: url });
    const response = await postToSlackEndpoint(app.url, body);
    expect(response.status).toBe(200);
    await lookup.waitUntilHeld(1);
    expect(slack.responses(decodeURIComponent(url.split('/').at(-1)!))).toHaveLength(0);
    lookup.release();
    expect(JSON.stringify(await lastResponse(url))).toContain('/audit export');
  });

  it('refuses a non-owner ephemerally and records the attempt as an audit event', async () => {
    const { body } = await command('type:"Warehouses Disabled"', STRANGER);
    expect(body).toMatchObject({ response_type: 'ephemeral', text: expect.stringContaining('Only audit owners') });
    await expect
      .poll(
        async () => (await storedEvents('?type=Audit%20Access%20Denied')).filter((e) => e.actor.id === STRANGER).length,
      )
      .toBe(1);
    const [denied] = await storedEvents('?type=Audit%20Access%20Denied');
    expect(denied).toMatchObject({ metadata: { attempted: '/audit', detail: 'type:"Warehouses Disabled"' } });
  });

  it('lets a member of the owner group in', async () => {
    const { body } = await command('help', GROUPIE);
    expect(JSON.stringify(body)).toContain('/audit export');
  });

  it('answers help with usage and examples', async () => {
    const { body } = await command('');
    const text = JSON.stringify(body);
    for (const part of ['/audit export', 'since:7d', 'type:', 'forward']) expect(text).toContain(part);
  });

  it('names the bad filter', async () => {
    const { body } = await command('colour:red since:7d');
    expect(body?.text).toContain('colour:red');
  });

  it('pages through matches with Next, with no row lost or repeated', async () => {
    const events = Array.from({ length: 25 }, (_, i) => ({
      id: `page_${i}`,
      type: 'Audience Modified',
      timestamp: new Date(Date.UTC(2026, 10, 20, 10, 0, i % 5)).toISOString(),
      actor: { type: 'user', id: 'usr_pager' },
      resource: { type: 'audience', id: `aud_${i}` },
    }));
    expect((await postEvents(app.url, token, { events })).status).toBe(201);
    const seen: string[] = [];
    let { url } = await command('type:"Audience Modified" actor:usr_pager limit:10');
    for (let page = 1; page <= 3; page++) {
      const body = await lastResponse(url);
      const text = JSON.stringify(body.blocks);
      seen.push(...[...text.matchAll(/aud_(\d+)/g)].map((m) => m[1]!).filter((v, i, all) => all.indexOf(v) === i));
      const next = body.blocks
        ?.find((b) => b.type === 'actions')
        ?.elements?.find((e) => e.action_id === 'audit_next_page');
      if (page < 3) {
        expect(next).toBeDefined();
        url = await click('audit_next_page', next!.value!, OWNER, { ts: '1.0' });
        const replaced = await lastResponse(url);
        expect(replaced.replace_original).toBe(true);
      } else {
        expect(next).toBeUndefined();
      }
    }
    expect(new Set(seen).size).toBe(25);
    expect(seen).toHaveLength(25);
  });

  it('exports matches as a CSV uploaded to the channel with a summary', async () => {
    const events = Array.from({ length: 40 }, (_, i) => ({
      id: `export_${i}`,
      type: 'Space Modified',
      actor: { type: 'user', id: 'usr_exporter', name: i === 0 ? '=cmd|evil' : 'Ex' },
      resource: { type: 'space', id: `spa_${i}` },
    }));
    expect((await postEvents(app.url, token, { events })).status).toBe(201);
    const { body } = await command('export type:"Space Modified"');
    expect(body?.text).toContain('Exporting');
    const [complete] = await slack.waitForCalls('files.completeUploadExternal', 1, 15_000);
    expect(slack.callsTo('files.getUploadURLExternal')).toHaveLength(1);
    expect(complete!.body).toMatchObject({
      channel_id: 'C0000000001',
      initial_comment: expect.stringMatching(/40 events from .* to .*type: Space Modified/),
    });
    const file = slack.files().at(-1)!;
    const rows = parse(file.bytes!.toString(), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(40);
    expect(rows.find((r) => r.id === 'export_0')?.actor_name).toBe(`'=cmd|evil`);

    // A retry of the finished job (as after a crash past the upload) posts nothing again.
    await expect
      .poll(async () => (await app.service.queues.exports.getJobCounts('completed')).completed, { timeout: 10_000 })
      .toBe(1);
    const [job] = await app.service.queues.exports.getJobs(['completed']);
    const uploads = slack.files().length;
    await job!.retry('completed');
    await expect
      .poll(
        async () =>
          (await app.service.queues.exports.getJob(job!.id!))?.finishedOn !== undefined &&
          (await app.service.queues.exports.getJob(job!.id!))!.attemptsStarted > 1,
        { timeout: 10_000 },
      )
      .toBe(true);
    expect(slack.files().length).toBe(uploads);
    expect(slack.callsTo('files.completeUploadExternal')).toHaveLength(1);
  });
});

describe('the owner check on the other buttons', () => {
  it.each([
    ['audit_show_trail', 'show trail'],
    ['audit_next_page', 'next page'],
  ])('refuses a %s click from someone who is not an owner and records it as "%s"', async (actionId, attempted) => {
    const url = await click(actionId, 'anything', STRANGER, { ts: '1.0' });
    const text = expect.stringContaining('Only audit owners');
    expect(await lastResponse(url)).toMatchObject({ response_type: 'ephemeral', replace_original: false, text });
    const recorded = async () =>
      (await storedEvents('?type=Audit%20Access%20Denied')).some(
        (e) => e.actor.id === STRANGER && e.metadata?.attempted === attempted,
      );
    await expect.poll(recorded).toBe(true);
  });
});

describe('/audit export failures', () => {
  it('tells the person who asked when Slack refuses the upload for good', async () => {
    slack.failNext('files.completeUploadExternal', { error: 'not_in_channel' });
    expect(
      (
        await postEvents(app.url, token, {
          id: 'export_refused',
          type: 'Space Deleted',
          actor: { type: 'user', id: 'u' },
          resource: { type: 'space', id: 'spa_x' },
        })
      ).status,
    ).toBe(201);
    await command('export type:"Space Deleted"');
    await expect
      .poll(() => slack.ephemerals().some((e) => JSON.stringify(e).includes('not_in_channel')), { timeout: 15_000 })
      .toBe(true);
    const told = slack.ephemerals().find((e) => JSON.stringify(e).includes('not_in_channel'))!;
    expect(JSON.stringify(told)).toContain(OWNER);
    expect(JSON.stringify(told)).toContain('/invite');
  });
});

describe('the Revert button', () => {
  async function alertFor(event: Record<string, unknown> & { id: string }) {
    expect((await postEvents(app.url, token, event)).status).toBe(201);
    await expect
      .poll(
        () => slack.messages('#data-alerts').filter((m) => JSON.stringify(m.metadata ?? {}).includes(event.id)).length,
        { timeout: 10_000 },
      )
      .toBe(1);
    const message = slack.messages('#data-alerts').find((m) => JSON.stringify(m.metadata ?? {}).includes(event.id))!;
    const revert = (message.blocks as { type: string; elements?: { action_id: string; value: string }[] }[])
      .find((b) => b.type === 'actions')
      ?.elements?.find((e) => e.action_id === 'audit_revert');
    return { message, revert };
  }
  const channelId = () => slack.channelId('#data-alerts');
  const latest = (ts: string) => slack.messages('#data-alerts').find((m) => m.ts === ts)!;

  const rows: {
    type: string;
    resource: Record<string, string>;
    changes?: unknown;
    metadata?: unknown;
    prepare: () => void;
    call: string;
    body: unknown;
    inverse: string;
  }[] = [
    {
      type: 'Warehouses Disabled',
      resource: { type: 'warehouse', id: 'wh_r1' },
      prepare: () => segment.setWarehouse({ id: 'wh_r1', enabled: false, settings: { host: 'snow' } }),
      call: 'PATCH /warehouses/wh_r1',
      body: { enabled: true, settings: { host: 'snow' } },
      inverse: 'Warehouses Enabled',
    },
    {
      type: 'Source Disabled',
      resource: { type: 'source', id: 'src_r1' },
      prepare: () => segment.setSource({ id: 'src_r1', enabled: false }),
      call: 'PATCH /sources/src_r1',
      body: { enabled: true },
      inverse: 'Source Enabled',
    },
    {
      type: 'Integrations Enabled',
      resource: { type: 'destination', id: 'dst_r1' },
      prepare: () => segment.setDestination({ id: 'dst_r1', enabled: true }),
      call: 'PATCH /destinations/dst_r1',
      body: { enabled: false },
      inverse: 'Integrations Disabled',
    },
    {
      type: 'Source Modified',
      resource: { type: 'source', id: 'src_r2' },
      changes: { before: { name: 'Old' }, after: { name: 'New' } },
      prepare: () => segment.setSource({ id: 'src_r2', name: 'New' }),
      call: 'PATCH /sources/src_r2',
      body: { name: 'Old' },
      inverse: 'Source Modified',
    },
    {
      type: 'Destination Filters Modified',
      resource: { type: 'destination_filter', id: 'df_r1' },
      changes: { before: { enabled: true }, after: { enabled: false } },
      metadata: { destinationId: 'dst_r2' },
      prepare: () => segment.setFilter('dst_r2', { id: 'df_r1', enabled: false }),
      call: 'PATCH /destination/dst_r2/filters/df_r1',
      body: { enabled: true },
      inverse: 'Destination Filters Modified',
    },
    {
      type: 'Source Function Modified',
      resource: { type: 'function', id: 'fn_r1' },
      changes: { before: { code: 'v1' }, after: { code: 'v2' } },
      prepare: () => segment.setFunction({ id: 'fn_r1', code: 'v2' }),
      call: 'PATCH /functions/fn_r1',
      body: { code: 'v1' },
      inverse: 'Source Function Modified',
    },
    {
      type: 'Tracking Plan Modified',
      resource: { type: 'tracking_plan', id: 'tp_r1' },
      changes: { before: { name: 'Plan' }, after: { name: 'Plan 2' } },
      prepare: () => segment.setTrackingPlan({ id: 'tp_r1', name: 'Plan 2' }),
      call: 'PATCH /tracking-plans/tp_r1',
      body: { name: 'Plan' },
      inverse: 'Tracking Plan Modified',
    },
  ];

  it.each(rows)('reverts $type with $call, records $inverse and updates the alert in place', async (row) => {
    row.prepare();
    const id = `rev_${row.type.replace(/\W/g, '_')}`;
    const { message, revert } = await alertFor({
      id,
      type: row.type,
      actor: { type: 'user', id: 'usr_oops' },
      resource: row.resource,
      ...(row.changes ? { changes: row.changes } : {}),
      ...(row.metadata ? { metadata: row.metadata } : {}),
    });
    expect(revert).toBeDefined();
    const before = segment.callsTo(row.call).length;
    await click('audit_revert', revert!.value, OWNER, message, channelId());
    await expect.poll(() => JSON.stringify(latest(message.ts).blocks), { timeout: 10_000 }).toContain('Reverted by');
    const calls = segment.callsTo(row.call);
    expect(calls).toHaveLength(before + 1);
    expect(calls.at(-1)!.body).toEqual(row.body);
    expect(calls.at(-1)!.headers.authorization).toBe(`Bearer ${segment.apiToken}`);
    expect(JSON.stringify(latest(message.ts).blocks)).not.toContain('audit_revert');
    const recorded = (await storedEvents(`?type=${encodeURIComponent(row.inverse)}`)).find(
      (e) => e.metadata?.revertOf === id,
    );
    expect(recorded).toMatchObject({ actor: { id: OWNER } });
  });

  it('reverts once for two clicks, and once for two owners clicking at the same moment', async () => {
    segment.setSource({ id: 'src_twice', enabled: false });
    const { message, revert } = await alertFor({
      id: 'rev_twice',
      type: 'Source Disabled',
      actor: { type: 'user', id: 'u' },
      resource: { type: 'source', id: 'src_twice' },
    });
    const hold = segment.hold('PATCH /sources/src_twice');
    const first = click('audit_revert', revert!.value, OWNER, message, channelId());
    const second = click('audit_revert', revert!.value, OTHER_OWNER, message, channelId());
    await Promise.all([first, second]);
    await hold.waitUntilHeld(1, 5000);
    hold.release();
    await expect.poll(() => JSON.stringify(latest(message.ts).blocks), { timeout: 10_000 }).toContain('Reverted by');
    const third = await click('audit_revert', revert!.value, OTHER_OWNER, message, channelId());
    expect((await lastResponse(third)).text).toContain('already reverted');
    expect(segment.callsTo('PATCH /sources/src_twice')).toHaveLength(1);
    expect(
      (await storedEvents('?type=Source%20Enabled')).filter((e) => e.metadata?.revertOf === 'rev_twice'),
    ).toHaveLength(1);
  });

  it('shows why a revert failed, keeps the button, and succeeds on a later click', async () => {
    segment.setSource({ id: 'src_fail', enabled: false });
    const { message, revert } = await alertFor({
      id: 'rev_fail',
      type: 'Source Disabled',
      actor: { type: 'user', id: 'u' },
      resource: { type: 'source', id: 'src_fail' },
    });
    segment.failNext('PATCH /sources/src_fail', { status: 404 });
    await click('audit_revert', revert!.value, OWNER, message, channelId());
    await expect.poll(() => JSON.stringify(latest(message.ts).blocks), { timeout: 10_000 }).toContain('failed');
    expect(JSON.stringify(latest(message.ts).blocks)).toContain('audit_revert');
    await click('audit_revert', revert!.value, OWNER, latest(message.ts), channelId());
    await expect.poll(() => JSON.stringify(latest(message.ts).blocks), { timeout: 10_000 }).toContain('Reverted by');
    expect(JSON.stringify(latest(message.ts).blocks)).not.toContain('failed');
  });

  it(
    'acknowledges the click at once, waits out Segment’s rate limit, ' + 'and updates the alert when the revert ends',
    async () => {
      segment.setSource({ id: 'src_limited', enabled: false });
      const { message, revert } = await alertFor({
        id: 'rev_limited',
        type: 'Source Disabled',
        actor: { type: 'user', id: 'u' },
        resource: { type: 'source', id: 'src_limited' },
      });
      const hold = segment.hold('PATCH /sources/src_limited');
      segment.failNext('PATCH /sources/src_limited', { status: 429, retryAfter: 1 });
      await click('audit_revert', revert!.value, OWNER, message, channelId());
      // The click was answered while Segment had not even answered the first PATCH.
      await hold.waitUntilHeld(1, 5000);
      expect(JSON.stringify(latest(message.ts).blocks)).not.toContain('Reverted by');
      hold.release();
      await expect.poll(() => JSON.stringify(latest(message.ts).blocks), { timeout: 10_000 }).toContain('Reverted by');
      expect(segment.callsTo('PATCH /sources/src_limited')).toHaveLength(2);
    },
  );

  it('refuses a click from someone who is not an owner, records it, and calls nothing', async () => {
    segment.setWarehouse({ id: 'wh_stranger', enabled: false, settings: {} });
    const { message, revert } = await alertFor({
      id: 'rev_stranger',
      type: 'Warehouses Disabled',
      actor: { type: 'user', id: 'u' },
      resource: { type: 'warehouse', id: 'wh_stranger' },
    });
    const url = await click('audit_revert', revert!.value, STRANGER, message, channelId());
    expect((await lastResponse(url)).text).toContain('Only audit owners');
    await expect
      .poll(async () =>
        (await storedEvents('?type=Audit%20Access%20Denied')).some(
          (e) => e.actor.id === STRANGER && e.metadata?.attempted === 'revert',
        ),
      )
      .toBe(true);
    expect(segment.callsTo('PATCH /warehouses/wh_stranger')).toHaveLength(0);
  });

  it('records a revert whose clicker has NUL and a lone surrogate in their Slack name, escaped', async () => {
    segment.setSource({ id: 'src_nul', enabled: false });
    const { message, revert } = await alertFor({
      id: 'rev_nul',
      type: 'Source Disabled',
      actor: { type: 'user', id: 'u' },
      resource: { type: 'source', id: 'src_nul' },
    });
    const url = responseUrl();
    const body = blockActionBody({
      actionId: 'audit_revert',
      value: revert!.value,
      userId: OWNER,
      userName: 'ja\u0000ne\ud800',
      channelId: channelId(),
      message,
      responseUrl: url,
    });
    expect((await postToSlackEndpoint(app.url, body)).status).toBe(200);
    await expect.poll(() => JSON.stringify(latest(message.ts).blocks), { timeout: 10_000 }).toContain('Reverted by');
    const recorded = (await storedEvents('?type=Source%20Enabled')).find((e) => e.metadata?.revertOf === 'rev_nul');
    expect(recorded).toMatchObject({ actor: { id: OWNER, name: 'ja\\u0000ne\\ud800' } });
  });

  it('never offers Revert on an event that is not revertible', async () => {
    const { revert } = await alertFor({
      id: 'rev_deleted',
      type: 'Source Deleted',
      actor: { type: 'user', id: 'u' },
      resource: { type: 'source', id: 'src_gone' },
    });
    expect(revert).toBeUndefined();
  });
});

describe('Slack text that Postgres cannot store as it is', () => {
  const NUL_STRANGER = 'U0NULTEXT';
  const deniedFor = async (userId: string) =>
    (await storedEvents('?type=Audit%20Access%20Denied')).filter((e) => e.actor.id === userId);

  it('records a refused /audit whose text holds NUL, the NUL escaped where it was', async () => {
    const { body } = await command('type:a\u0000b since:7d', NUL_STRANGER);
    expect(body.text).toContain('Only audit owners');
    await expect.poll(async () => (await deniedFor(NUL_STRANGER)).length).toBe(1);
    const [denied] = await deniedFor(NUL_STRANGER);
    expect(denied!.metadata).toMatchObject({ attempted: '/audit', detail: 'type:a\\u0000b since:7d' });
  });

  it('records a refused click from a user whose name holds a lone surrogate and NUL', async () => {
    const url = responseUrl();
    const body = blockActionBody({
      actionId: 'audit_show_trail',
      value: 'x',
      userId: 'U0SURROGATE',
      userName: 'x\ud800\u0000y',
      channelId: 'C0000000001',
      message: { ts: '1.0' },
      responseUrl: url,
    });
    expect((await postToSlackEndpoint(app.url, body)).status).toBe(200);
    expect((await lastResponse(url)).text).toContain('Only audit owners');
    await expect.poll(async () => (await deniedFor('U0SURROGATE')).length).toBe(1);
    const [denied] = (await storedEvents('?type=Audit%20Access%20Denied')).filter(
      (e) => e.actor.id === 'U0SURROGATE',
    ) as unknown as { actor: { name: string } }[];
    expect(denied!.actor.name).toBe('x\\ud800\\u0000y');
  });
});
