import { LogLevel, WebClient } from '@slack/web-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildAlertMessage, withAlertStatus } from '../../src/slack/blocks/alert.ts';
import { buildEventsPage } from '../../src/slack/blocks/events-page.ts';
import { buildEventsModal, buildLoadingModal, buildNonOwnerHome, buildOwnerHome } from '../../src/slack/blocks/home.ts';
import {
  buildHeldBackPage,
  buildSilenceSummary,
  buildSilencesList,
  decodeHeldBackValue,
  encodeHeldBackValue,
  silencedStatusText,
} from '../../src/slack/blocks/silences.ts';
import type { AlertState, AlertWithState } from '../../src/store/alerts.ts';
import type { AlertRow, SilenceRow } from '../../src/store/schema/index.ts';
import type { ActiveSilence } from '../../src/store/silences.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { storedEvent } from '../helpers/stored-event.ts';

/** Producer text at its worst: markup that would ping or link, and far too long. */
const HOSTILE = `<!channel> <@U999> <https://evil.example|x> & ${'z'.repeat(5000)}`;
const LONG_ID = `id_${'9'.repeat(250)}`;

let slack: FakeSlack;
let client: WebClient;

beforeAll(async () => {
  slack = await startFakeSlack({ users: [{ id: 'U0OWNER1', name: 'owner' }] });
  client = new WebClient(slack.botToken, { slackApiUrl: slack.url, logLevel: LogLevel.ERROR });
});

afterAll(async () => {
  await slack?.close();
});

function silence(overrides: Partial<SilenceRow> = {}): SilenceRow {
  return {
    id: 12,
    workspaceId: HOSTILE,
    ruleId: 'warehouse-disabled',
    resourceId: LONG_ID,
    channel: '#data-alerts',
    createdBy: 'U0OWNER1',
    createdAt: new Date('2026-11-25T10:00:00Z'),
    endsAt: new Date('2026-11-25T18:00:00Z'),
    endedBy: null,
    endedAt: null,
    summaryAttempts: 0,
    summaryLeaseUntil: null,
    summaryChannelId: null,
    summaryTs: null,
    summaryStatus: null,
    ...overrides,
  };
}

const hostileEvent = (i: number) =>
  storedEvent({
    id: `evt_${i}_${'e'.repeat(180)}`,
    type: HOSTILE,
    actor: { type: 'user', id: LONG_ID, name: HOSTILE, email: HOSTILE },
    resource: { type: HOSTILE, id: LONG_ID, name: HOSTILE },
    changes: {
      before: Object.fromEntries(Array.from({ length: 50 }, (_, k) => [`${HOSTILE}${k}`, HOSTILE])),
      after: {},
    },
  });

function alertRow(i: number, state: AlertState): AlertWithState {
  const row: AlertRow = {
    workspaceId: 'acme',
    eventId: `evt_${i}`,
    ruleId: 'warehouse-disabled',
    channel: '#data-alerts',
    channelId: 'C0000000001',
    ts: '1.000001',
    status: state === 'silenced' || state === 'grouped' ? state : 'sent',
    error: null,
    attempts: 1,
    createdAt: new Date(),
    sentAt: new Date(),
    silenceId: null,
    acknowledgedBy: state === 'acknowledged' ? 'U0OWNER1' : null,
    acknowledgedAt: state === 'acknowledged' ? new Date() : null,
    leaseUntil: null,
    silencedBy: null,
    silencedFor: null,
    silencedWith: null,
  };
  return {
    alert: state === 'grouped' ? { ...row, channelId: null, ts: null } : row,
    event: hostileEvent(i),
    state,
    ...(state === 'reverted' && { revertedBy: 'U0OWNER1' }),
    ...(state === 'grouped' && { group: { channelId: 'C0000000001', count: 1000 } }),
  };
}

/** Every `<…>` Slack would read as markup (in text and blocks; metadata is not rendered): only the builders' own. */
function markup(payload: { text?: string; blocks?: unknown }): string[] {
  return [...JSON.stringify({ text: payload.text, blocks: payload.blocks }).matchAll(/<[^<>]*>/g)]
    .map((m) => m[0])
    .filter(
      (m) => !/^<!date\^\d+\^\{date_short_pretty\} \{time\}\|[\dTZ:.-]+>$/.test(m) && !/^<[@#][UWC][A-Z0-9]+>$/.test(m),
    );
}

describe('Slack operations payloads', () => {
  it('silence summaries, lists and held-back pages pass Slack’s checks with hostile, oversized input', async () => {
    const active: ActiveSilence[] = Array.from({ length: 40 }, (_, i) => ({ ...silence({ id: i + 1 }), heldBack: i }));
    const events = Array.from({ length: 20 }, (_, i) => hostileEvent(i));
    const messages = [
      buildSilenceSummary(silence({ endedBy: 'U0OWNER1' }), 1234),
      buildSilenceSummary(silence({ resourceId: null }), 0),
      buildSilencesList(HOSTILE, active, 45),
      buildSilencesList('acme', [], 0),
      buildHeldBackPage(silence(), events, { number: 1, total: 25 }),
      buildHeldBackPage(silence(), [], { number: 3, total: 25 }),
    ];
    for (const message of messages) {
      await client.chat.postMessage({ channel: '#checks', ...message });
      expect(markup(message)).toEqual([]);
    }
  });

  it('an alert with every status line and a long silence note passes Slack’s checks', async () => {
    const alert = buildAlertMessage({
      event: hostileEvent(1),
      rule: { id: 'r', severity: 'critical', mention: [], revert: true },
      revertEnabled: true,
    });
    let blocks = withAlertStatus(alert.blocks, 'silenced', silencedStatusText(silence(), 'U0OWNER1', '7 days'));
    blocks = withAlertStatus(blocks, 'acknowledged', 'Acknowledged');
    blocks = withAlertStatus(blocks, 'reverted', `Reverted: ${'r'.repeat(5000)}`);
    await client.chat.postMessage({ channel: '#checks', text: alert.text, blocks });
  });

  it('the owner’s and the non-owner’s home, and the query modals, pass Slack’s view checks', async () => {
    const states: AlertState[] = [
      'posting',
      'posted',
      'logged',
      'failed',
      'silenced',
      'acknowledged',
      'reverted',
      'grouped',
      'posted',
      'posted',
    ];
    const active: ActiveSilence[] = Array.from({ length: 20 }, (_, i) => ({ ...silence({ id: i + 1 }), heldBack: 3 }));
    const now = new Date();
    const forwarding = {
      settings: {
        workspaceId: 'acme',
        enabled: true,
        writeKey: 'wk_1234567890abcd',
        name: HOSTILE,
        changedBy: 'U0OWNER1',
        changedAt: now,
        deliveredSeq: 1,
        startedSeq: 0,
        startedAt: now,
        deliveredCount: 10,
        failedCount: 0,
        lastError: HOSTILE,
        lastErrorAt: now,
        lastDeliveredAt: now,
        retryAt: null,
        retryAttempts: 0,
      },
      headSeq: 20,
      pending: 19,
      failedBatches: 0,
    };
    const owner = buildOwnerHome({
      workspaceId: HOSTILE,
      alerts: states.map((state, i) => alertRow(i, state)),
      silences: active,
      silenceCount: 57,
      forwarding,
      importStatus: {
        state: 'on',
        lastPollAt: now,
        lastResult: HOSTILE,
        imported: 5,
        newestImported: now,
        lastError: HOSTILE,
        nextTryAt: now,
      },
      now,
    });
    expect(markup(owner)).toEqual([]);
    await client.views.publish({ user_id: 'U0OWNER1', view: owner });
    const empty = buildOwnerHome({
      workspaceId: 'a',
      alerts: [],
      silences: [],
      silenceCount: 0,
      forwarding: undefined,
      importStatus: { state: 'not_configured' },
      now,
    });
    expect(markup(empty)).toEqual([]);
    await client.views.publish({ user_id: 'U0OWNER1', view: empty });
    expect(markup(buildNonOwnerHome('U0OWNER1'))).toEqual([]);
    await client.views.publish({ user_id: 'U0OWNER1', view: buildNonOwnerHome('U0OWNER1') });

    const page = buildEventsPage({
      events: Array.from({ length: 100 }, (_, i) => hostileEvent(i)),
      nextCursor: null,
      filters: {},
      limit: 100,
      pageNumber: 1,
    });
    const opened = await client.views.open({
      trigger_id: '1.2.3',
      view: buildLoadingModal('Changes by tokens, 7 days'),
    });
    await client.views.update({ view_id: opened.view!.id!, view: buildEventsModal(page, 'Changes by tokens, 7 days') });
  });

  it('reads back only held-back values it made', () => {
    expect(decodeHeldBackValue(encodeHeldBackValue({ s: 3, p: 2 }))).toEqual({ s: 3, p: 2 });
    for (const forged of ['{"s":0,"p":1}', '{"s":1.5,"p":1}', '{"s":1}', 'nope', undefined]) {
      expect(decodeHeldBackValue(forged)).toBeUndefined();
    }
  });
});

describe('the fake Slack checks what it is sent', () => {
  it('refuses views and elements past Block Kit’s limits, as Slack does', async () => {
    const tooMany = {
      type: 'home' as const,
      blocks: Array.from({ length: 101 }, () => ({ type: 'divider' as const })),
    };
    await expect(client.views.publish({ user_id: 'U0OWNER1', view: tooMany })).rejects.toMatchObject({
      data: { error: 'invalid_arguments' },
    });
    const longTitle = {
      type: 'modal' as const,
      title: { type: 'plain_text' as const, text: 'x'.repeat(25) },
      blocks: [],
    };
    await expect(client.views.open({ trigger_id: '1', view: longTitle })).rejects.toMatchObject({
      data: { error: 'invalid_arguments' },
    });
    await expect(
      client.views.publish({ user_id: 'U0NOBODY', view: buildNonOwnerHome('U0NOBODY') }),
    ).rejects.toMatchObject({ data: { error: 'invalid_arguments' } });
    const select = (options: unknown[]) => [
      {
        type: 'actions',
        elements: [{ type: 'static_select', action_id: 'a', placeholder: { type: 'plain_text', text: 'p' }, options }],
      },
    ];
    const option = (value: string) => ({ text: { type: 'plain_text', text: 'o' }, value });
    await expect(
      client.chat.postMessage({ channel: '#checks', text: 't', blocks: select([]) as never }),
    ).rejects.toMatchObject({ data: { error: 'invalid_blocks' } });
    await expect(
      client.chat.postMessage({ channel: '#checks', text: 't', blocks: select([option('v'.repeat(76))]) as never }),
    ).rejects.toMatchObject({ data: { error: 'invalid_blocks' } });
    const linkButton = [
      {
        type: 'actions',
        elements: [
          { type: 'button', action_id: 'b', text: { type: 'plain_text', text: 'Open' }, url: 'javascript:alert(1)' },
        ],
      },
    ];
    await expect(
      client.chat.postMessage({ channel: '#checks', text: 't', blocks: linkButton as never }),
    ).rejects.toMatchObject({ data: { error: 'invalid_blocks' } });
  });

  it('answers users.lookupByEmail as Slack does, and keeps views with a hash that refuses stale updates', async () => {
    slack.addUser({ id: 'U0JANE', name: 'jane', email: 'Jane@Acme.com' });
    expect((await client.users.lookupByEmail({ email: 'jane@acme.com' })).user).toMatchObject({
      id: 'U0JANE',
      profile: { email: 'Jane@Acme.com' },
    });
    await expect(client.users.lookupByEmail({ email: 'nobody@acme.com' })).rejects.toMatchObject({
      data: { error: 'users_not_found' },
    });

    const first = await client.views.publish({ user_id: 'U0JANE', view: buildNonOwnerHome('U0JANE') });
    const second = await client.views.publish({
      user_id: 'U0JANE',
      view: buildNonOwnerHome('U0JANE'),
      hash: first.view!.hash,
    });
    expect(second.view!.id).toBe(first.view!.id);
    await expect(
      client.views.publish({ user_id: 'U0JANE', view: buildNonOwnerHome('U0JANE'), hash: first.view!.hash }),
    ).rejects.toMatchObject({ data: { error: 'hash_conflict' } });
    expect(slack.homeView('U0JANE')?.hash).toBe(second.view!.hash);
  });
});
