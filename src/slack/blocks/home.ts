/**
 * The App Home tab: for owners, the latest alerts and what became of them, the running silences (each with
 * Unsilence), forwarding and import status, and buttons for common queries; for anyone else, how to become an owner.
 * Also the modal those query buttons open.
 */
import type { types } from '@slack/bolt';
import { maskWriteKey } from '../../forwarding/tracking-client.ts';
import type { AlertState, AlertWithState } from '../../store/alerts.ts';
import { ALERT_ACKNOWLEDGED_TYPE } from '../../store/alerts.ts';
import type { ForwardingStatus } from '../../store/forwarding.ts';
import type { EventFilters } from '../../store/queries.ts';
import type { ActiveSilence } from '../../store/silences.ts';
import { ALERT_SILENCED_TYPE, ALERT_UNSILENCED_TYPE } from '../../store/silences.ts';
import { FORWARD_SYNTAX } from '../command/forward.ts';
import { SILENCE_SYNTAX } from '../command/silence.ts';
import type { ImportStatusForHome } from '../home/import-status.ts';
import { HOME_QUERY_ACTION } from '../ids.ts';
import { ACCESS_DENIED_TYPE } from '../listeners/owners-only.ts';
import { escapeMrkdwn, slackDate, truncate } from '../mrkdwn.ts';
import { context, inline, mrkdwn, section } from './elements.ts';
import type { EventsPage } from './events-page.ts';
import { silenceLine, unsilenceButton } from './silences.ts';

export interface OwnerHomeInput {
  workspaceId: string;
  alerts: readonly AlertWithState[];
  silences: readonly ActiveSilence[];
  /** All running silences, when more than `silences` holds. */
  silenceCount: number;
  forwarding: ForwardingStatus | undefined;
  importStatus: ImportStatusForHome;
  now: Date;
}

/** Alerts the home lists, and silences it shows with a button: with the rest, well under a view's 100 blocks. */
export const HOME_ALERTS = 10;
export const HOME_SILENCES = 20;

/** The home's query buttons: each opens a modal with the first page of its events. */
export const HOME_QUERIES = [
  { id: 'last-24h', label: 'Last 24 hours', filters: (now: Date): EventFilters => ({ since: ago(now, 1) }) },
  {
    id: 'tokens-7d',
    label: 'Changes by tokens, 7 days',
    filters: (now: Date): EventFilters => ({ actorType: 'token', since: ago(now, 7) }),
  },
  {
    id: 'refused-7d',
    label: 'Refused attempts, 7 days',
    filters: (now: Date): EventFilters => ({ types: [ACCESS_DENIED_TYPE], since: ago(now, 7) }),
  },
  {
    id: 'alert-actions-7d',
    label: 'Silences and acks, 7 days',
    filters: (now: Date): EventFilters => ({
      types: [ALERT_SILENCED_TYPE, ALERT_UNSILENCED_TYPE, ALERT_ACKNOWLEDGED_TYPE],
      since: ago(now, 7),
    }),
  },
] as const;

export type HomeQueryId = (typeof HOME_QUERIES)[number]['id'];

const STATE_LABEL: Readonly<Record<AlertState, string>> = {
  posting: ':hourglass_flowing_sand: posting',
  posted: ':bell: posted',
  grouped: ':bell: posted, grouped',
  logged: ':page_facing_up: logged (no Slack token)',
  failed: ':x: not posted',
  silenced: ':no_bell: silenced',
  acknowledged: ':eyes: acknowledged',
  reverted: ':leftwards_arrow_with_hook: reverted',
};

export function buildOwnerHome(input: OwnerHomeInput): types.HomeView {
  const { workspaceId, now } = input;
  const blocks: types.KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: 'Audit trail', emoji: true } },
    context(`Workspace \`${part(workspaceId, 100)}\` · updated ${slackDate(now)}`),
    {
      type: 'actions',
      block_id: 'audit_home_queries',
      elements: HOME_QUERIES.map(({ id, label }) => ({
        type: 'button',
        action_id: `${HOME_QUERY_ACTION}:${id}`,
        text: { type: 'plain_text', text: label },
        value: id,
      })),
    },
    { type: 'divider' },
    section('*Latest alerts*'),
  ];
  if (input.alerts.length === 0) blocks.push(context('No alerts yet. They appear here as rules match events.'));
  for (const alert of input.alerts) blocks.push(section(alertLine(alert)));

  blocks.push({ type: 'divider' }, section('*Silences*'));
  if (input.silences.length === 0) {
    blocks.push(
      context(
        `None running. Silence an alert from its *Silence…* menu, or with \`${escapeMrkdwn(SILENCE_SYNTAX.silence)}\`.`,
      ),
    );
  }
  for (const silence of input.silences) {
    blocks.push({ type: 'section', text: mrkdwn(silenceLine(silence)), accessory: unsilenceButton(silence) });
  }
  const more = input.silenceCount - input.silences.length;
  if (more > 0) blocks.push(context(`…and ${more} more: \`/audit silences\` lists them all.`));

  blocks.push(
    { type: 'divider' },
    section(`*Audit forwarding*\n${forwardingLine(input.forwarding)}`),
    section(`*Segment import*\n${importLine(input.importStatus)}`),
    context('`/audit help` for queries, exports, forwarding and silences.'),
  );
  return { type: 'home', blocks };
}

/** What someone who is not an owner sees: no data, one line on how to become an owner. */
export function buildNonOwnerHome(userId: string): types.HomeView {
  return {
    type: 'home',
    blocks: [
      section(
        'Only audit owners can use Audit Trail. To become one, ask whoever runs it to add your Slack user ID ' +
          `\`${part(userId, 40)}\` to \`AUDIT_OWNERS\`, or to add you to the owner user group (\`AUDIT_OWNER_GROUP\`).`,
      ),
    ],
  };
}

/** A modal holding one page of events (a home query's answer), with the page's Next button working in place. */
export function buildEventsModal(page: EventsPage, title = 'Audit trail'): types.ModalView {
  return {
    type: 'modal',
    title: { type: 'plain_text', text: truncate(title, 24) },
    close: { type: 'plain_text', text: 'Close' },
    blocks: page.blocks,
  };
}

/** What a modal shows while its query runs: the trigger to open it expires in 3 seconds, the query may not. */
export function buildLoadingModal(label: string): types.ModalView {
  return buildEventsModal({ text: 'Loading…', blocks: [section(`:hourglass_flowing_sand: ${escapeMrkdwn(label)}…`)] });
}

function alertLine({ alert, event, state, revertedBy, group }: AlertWithState): string {
  const resource = event.resource.name
    ? `${part(event.resource.name)} (\`${part(event.resource.id)}\`)`
    : `\`${part(event.resource.id)}\``;
  // A grouped alert has no message of its own: it is one line of its group's.
  const channelId = alert.channelId ?? group?.channelId;
  const where = channelId ? ` in <#${channelId}>` : '';
  const label =
    state === 'grouped' && group && group.count > 1
      ? `${STATE_LABEL.grouped} with ${(group.count - 1).toLocaleString('en-US')} more`
      : STATE_LABEL[state];
  const by =
    state === 'reverted' && revertedBy
      ? ` by <@${part(revertedBy, 40)}>`
      : state === 'acknowledged' && alert.acknowledgedBy
        ? ` by <@${part(alert.acknowledgedBy, 40)}>`
        : '';
  return truncate(
    `*${part(event.type)}* · ${resource}\n` +
      `${label}${by} · rule \`${part(alert.ruleId, 100)}\`${where} · ${slackDate(alert.createdAt)}`,
    2900,
  );
}

function forwardingLine(status: ForwardingStatus | undefined): string {
  if (!status)
    return `:black_circle_for_record: Off (never turned on). \`${escapeMrkdwn(FORWARD_SYNTAX.on)}\` turns it on.`;
  const { settings } = status;
  const key = `(write key \`${part(maskWriteKey(settings.writeKey))}\`)`;
  const to = settings.name ? `*${part(settings.name)}* ${key}` : key;
  if (!settings.enabled)
    return `:black_circle_for_record: Off since ${slackDate(settings.changedAt)}; it last went to ${to}.`;
  const lag = status.pending === 0 ? 'no lag' : `${status.pending.toLocaleString('en-US')} not yet delivered`;
  const error =
    settings.lastError && settings.lastErrorAt
      ? `\nLast error ${slackDate(settings.lastErrorAt)}: _${part(settings.lastError, 300)}_`
      : '';
  const delivered = `${settings.deliveredCount.toLocaleString('en-US')} delivered`;
  return `:satellite_antenna: On, to ${to}: ${delivered}, ${lag}.${error}`;
}

function importLine(status: ImportStatusForHome): string {
  if (status.state === 'not_configured')
    return ':black_circle_for_record: Not configured. `/audit import status` shows details.';
  const lines = [status.state === 'on' ? ':inbox_tray: On' : ':black_circle_for_record: Off'];
  if (status.lastPollAt)
    lines.push(
      `last poll ${slackDate(status.lastPollAt)}${status.lastResult ? `: ${part(status.lastResult, 200)}` : ''}`,
    );
  if (status.imported !== undefined) {
    lines.push(`${status.imported.toLocaleString('en-US')} event${status.imported === 1 ? '' : 's'} imported`);
  }
  if (status.newestImported) lines.push(`newest ${slackDate(status.newestImported)}`);
  const head = lines.join(' · ');
  const error = status.lastError ? `\nLast error: _${part(status.lastError, 300)}_` : '';
  const next = status.nextTryAt ? `; next try ${slackDate(status.nextTryAt)}` : '';
  return `${head}${error}${error ? next : ''}`;
}

function ago(now: Date, days: number): Date {
  return new Date(now.getTime() - days * 86_400_000);
}

function part(text: string, max = 120): string {
  return inline(text, max);
}
