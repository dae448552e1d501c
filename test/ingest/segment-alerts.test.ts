import webApi from '@slack/web-api';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getSegmentImport } from '../../src/store/segment-import.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { type FakeSegment, startFakeSegment } from '../helpers/fake-segment.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { rulesDir } from '../helpers/rules-dir.ts';
import { auditCall, publicAuditEvent } from '../helpers/segment-audit.ts';
import { postEvents, startTestService, type TestService } from '../helpers/service.ts';
import { blockActionBody, postToSlackEndpoint, slackEnv, slashCommandBody } from '../helpers/slack-requests.ts';
import { slackSession } from '../helpers/slack-session.ts';

const { retryPolicies } = webApi;

let database: TestDatabase;
let slack: FakeSlack;
let segment: FakeSegment;
let app: TestService;
let token: string;
const OWNER = 'U0OWNER1';

/** Written for the catalog name; Segment sends `Warehouse Disabled`. */
const rules = rulesDir({
  'warehouse-disabled.yml': `
id: warehouse-disabled
when:
  type: [Warehouses Disabled, Source Disabled]
channel: "#data-alerts"
severity: critical
revert: true
`,
});

beforeAll(async () => {
  database = await createTestDatabase();
  slack = await startFakeSlack({ users: [{ id: OWNER, name: 'owner' }] });
  segment = await startFakeSegment();
  // Already in Segment's trail when the import first runs: its backfill must store it without alerting.
  const twoDaysAgo = new Date(Date.now() - 48 * 3_600_000);
  segment.addAuditEvents([
    publicAuditEvent({ type: 'Warehouse Disabled', details: warehouseDetails('wh_old_pull'), at: twoDaysAgo }),
  ]);
  app = await startTestService(
    database.url,
    {
      ...slackEnv(slack, { owners: OWNER, teams: 'T0001:acme,T0002:globex' }),
      SEGMENT_API_URL: segment.publicApiUrl,
      SEGMENT_API_TOKEN: segment.apiToken,
      SEGMENT_PULL_WORKSPACE: 'acme',
      SEGMENT_PULL_INTERVAL: '1s',
      RULES_DIR: rules.dir,
    },
    {
      slackMinIntervalMs: 10,
      slackRetryConfig: retryPolicies.rapidRetryPolicy,
      segmentImport: { backoffBaseMs: 100, maxBackoffMs: 400 },
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

const db = () => app.service.database.db;
let n = 0;
const responseUrl = () => slack.responseUrl(`r${++n}`);
const channelId = () => slack.channelId('#data-alerts');

function pushSegment(body: unknown) {
  return fetch(`${app.url}/v1/segment`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${token}:`).toString('base64')}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify(body),
  });
}

/** Alerts posted about a resource, by its id in the message. */
function alertsAbout(resourceId: string) {
  return slack.messages('#data-alerts').filter((m) => JSON.stringify(m.blocks).includes(resourceId));
}

async function storedAbout(
  resourceId: string,
): Promise<{ id: string; type: string; metadata: Record<string, unknown> | null }[]> {
  return db().execute(
    sql`select id, type, metadata from events where workspace_id = 'acme' and resource_id = ${resourceId}`,
  );
}

/** Clicks the alert's Revert button as the owner and waits for the message to say it was reverted. */
async function revertFromAlert(resourceId: string) {
  const message = alertsAbout(resourceId)[0]!;
  const revert = (message.blocks as { type: string; elements?: { action_id: string; value: string }[] }[])
    .find((b) => b.type === 'actions')
    ?.elements?.find((e) => e.action_id === 'audit_revert');
  expect(revert).toBeDefined();
  const body = blockActionBody({
    actionId: 'audit_revert',
    value: revert!.value,
    userId: OWNER,
    channelId: channelId(),
    message,
    responseUrl: responseUrl(),
  });
  expect((await postToSlackEndpoint(app.url, body)).status).toBe(200);
  await expect
    .poll(() => JSON.stringify(slack.messages('#data-alerts').find((m) => m.ts === message.ts)!.blocks), {
      timeout: 10_000,
    })
    .toContain('Reverted by');
}

/** Runs `/audit <text>` as the owner and returns what the user sees. */
async function command(text: string, teamId = 'T0001') {
  const url = responseUrl();
  const response = await postToSlackEndpoint(
    app.url,
    slashCommandBody({ text, userId: OWNER, teamId, responseUrl: url }),
  );
  expect(response.status).toBe(200);
  const id = decodeURIComponent(url.split('/').at(-1)!);
  await expect.poll(() => slack.responses(id).length, { timeout: 10_000 }).toBeGreaterThan(0);
  return slack.responses(id).at(-1)!.body as { text: string; blocks: unknown[] };
}

/** Waits until the import has read a whole window that began after this call. */
async function importCaughtUp(): Promise<void> {
  const since = Date.now();
  await expect
    .poll(
      async () => {
        const row = await getSegmentImport(db(), 'acme');
        return Boolean(
          row?.lastPollAt && row.lastPollAt.getTime() > since && row.lastPollResult === 'ok' && !row.windowStart,
        );
      },
      { timeout: 10_000 },
    )
    .toBe(true);
}

const warehouseDetails = (id: string) => ({
  resource_id: id,
  resource_type: 'warehouse',
  subject: 'users/MNxxtIRCbe',
  target: 'Prod Snowflake',
  warehouse_id: id,
});

describe('Segment’s own trail, end to end', () => {
  it(
    'alerts on a fresh Warehouse Disabled pushed by Audit Forwarding under a Warehouses Disabled rule, ' +
      'and Revert re-enables it',
    async () => {
      segment.setWarehouse({ id: 'wh_push', enabled: false, settings: { database: 'PROD' } });

      const response = await pushSegment({
        batch: [auditCall({ type: 'Warehouse Disabled', details: warehouseDetails('wh_push') })],
      });

      expect(await response.json()).toEqual({ accepted: 1, duplicates: 0, ignored: 0 });
      await expect.poll(() => alertsAbout('wh_push').length, { timeout: 10_000 }).toBe(1);
      await revertFromAlert('wh_push');
      const patches = segment.callsTo('PATCH /warehouses/wh_push');
      expect(patches.map((call) => call.body)).toEqual([{ enabled: true, settings: { database: 'PROD' } }]);
      expect((await storedAbout('wh_push')).map((e) => e.type).sort()).toEqual([
        'Warehouses Disabled',
        'Warehouses Enabled',
      ]);
    },
  );

  it('alerts on a fresh Warehouse Disabled imported from the Public API, and Revert re-enables it', async () => {
    segment.setWarehouse({ id: 'wh_pull', enabled: false, settings: { database: 'PULL' } });

    segment.addAuditEvents([
      publicAuditEvent({ type: 'Warehouse Disabled', details: warehouseDetails('wh_pull'), email: 'jane@acme.com' }),
    ]);

    await expect.poll(() => alertsAbout('wh_pull').length, { timeout: 10_000 }).toBe(1);
    await revertFromAlert('wh_pull');
    expect(segment.callsTo('PATCH /warehouses/wh_pull').map((call) => call.body)).toEqual([
      { enabled: true, settings: { database: 'PULL' } },
    ]);
  });

  it('stores an event that arrives both ways once, and alerts once', async () => {
    const at = new Date(Date.now() - 5_000);
    const call = auditCall({
      type: 'Warehouse Disabled',
      details: warehouseDetails('wh_both'),
      at,
      workspaceId: segment.workspaceId,
    });
    expect(await (await pushSegment(call)).json()).toEqual({ accepted: 1, duplicates: 0, ignored: 0 });
    await expect.poll(() => alertsAbout('wh_both').length, { timeout: 10_000 }).toBe(1);

    // The Public API names the same change with its own id, at whole seconds.
    const pulled = publicAuditEvent({ type: 'Warehouse Disabled', details: warehouseDetails('wh_both'), at });
    segment.addAuditEvents([{ ...pulled, timestamp: `${at.toISOString().slice(0, 19)}Z` }]);
    await importCaughtUp();
    // And Segment retries the webhook.
    expect(await (await pushSegment(call)).json()).toEqual({ accepted: 0, duplicates: 1, ignored: 0 });

    const stored = await storedAbout('wh_both');
    expect(stored).toHaveLength(1);
    expect(stored[0]!.metadata).toMatchObject({ segmentMessageId: call.messageId });
    expect(alertsAbout('wh_both')).toHaveLength(1);
  });

  it('stores but never alerts on events older than ALERT_MAX_AGE when received, by any path', async () => {
    const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);

    await pushSegment(
      auditCall({ type: 'Warehouse Disabled', details: warehouseDetails('wh_old_push'), at: hoursAgo(2) }),
    );
    await postEvents(app.url, token, {
      type: 'Source Disabled',
      timestamp: hoursAgo(3).toISOString(),
      actor: { type: 'user', id: 'u' },
      resource: { type: 'source', id: 'src_old_api' },
    });
    // A fresh event after them: once its alert is out, the old ones have been through the worker too.
    await postEvents(app.url, token, {
      type: 'Source Disabled',
      actor: { type: 'user', id: 'u' },
      resource: { type: 'source', id: 'src_fresh_after' },
    });
    await expect.poll(() => alertsAbout('src_fresh_after').length, { timeout: 10_000 }).toBe(1);
    // The two above and the one the first import found, 48 hours old; nothing else in this file is old.
    await expect.poll(skippedTooOld, { timeout: 10_000 }).toBe(3);

    for (const id of ['wh_old_push', 'wh_old_pull', 'src_old_api']) {
      expect(await storedAbout(id), id).toHaveLength(1);
      expect(alertsAbout(id), id).toEqual([]);
    }
  });

  it(
    'answers /audit import status when on, ' +
      'after an error (escaping Segment’s words), and for a workspace it does not feed',
    async () => {
      await importCaughtUp();
      const on = await command('import status');
      expect(on.text).toContain('The Segment import is on');
      expect(on.text).toMatch(/Last poll <!date\^\d+\^[^|]+\|[^>]+>: :white_check_mark: ok/);
      expect(on.text).toContain(`Segment workspace \`${segment.workspaceId}\``);
      expect(on.text).toMatch(/Imported [1-9]\d* events?, from <!date/);

      segment.failNext('GET /audit-events', {
        status: 403,
        body: { errors: [{ type: 'forbidden', message: 'Denied <!channel> & co' }] },
      });
      await expect
        .poll(async () => (await getSegmentImport(db(), 'acme'))?.lastErrorKind, { timeout: 10_000 })
        .toBe('forbidden');
      const failed = await command('import status');
      expect(failed.text).toContain('Last error');
      expect(failed.text).toContain('Denied &lt;!channel&gt; &amp; co');
      expect(failed.text).not.toContain('<!channel>');
      expect(JSON.stringify(failed.blocks)).toContain('Next try');

      const off = await command('import status', 'T0002');
      expect(off.text).toContain('The Segment import is off');
      expect(off.text).toContain('`globex`');
      expect(off.text).not.toContain(segment.workspaceId);
    },
  );

  it(
    'shows the import on the owner’s App Home: on, ' + 'what was imported, and the last error with the next try',
    async () => {
      await expect
        .poll(async () => (await getSegmentImport(db(), 'acme'))?.importedCount ?? 0, { timeout: 10_000 })
        .toBeGreaterThan(0);
      segment.failNext('GET /audit-events', {
        status: 401,
        body: { errors: [{ type: 'unauthorized', message: 'Bad <token>' }] },
      });
      await expect
        .poll(async () => (await getSegmentImport(db(), 'acme'))?.lastErrorKind, { timeout: 10_000 })
        .toBe('unauthorized');

      await slackSession(slack, () => ({ url: app.url, token })).openHome(OWNER);
      const homeText = () => JSON.stringify(slack.homeView(OWNER)?.view.blocks ?? []);
      await expect.poll(homeText, { timeout: 10_000 }).toContain('Segment import');
      const text = homeText();
      expect(text).toContain(':inbox_tray: On');
      expect(text).toMatch(/[1-9][\d,]* events? imported/);
      expect(text).toContain('Last error');
      expect(text).toContain('Bad &lt;token&gt;');
      expect(text).not.toContain('Not configured');
    },
  );
});

async function skippedTooOld(): Promise<number> {
  const text = await (await fetch(`${app.url}/metrics`)).text();
  return Number(/audit_alerts_skipped_total\{reason="too_old"\} (\d+)/.exec(text)?.[1] ?? Number.NaN);
}
