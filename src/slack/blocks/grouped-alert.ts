/**
 * The grouped alert (SPEC section 5): one message for many matches of a rule, updated in place as more join and as a
 * Revert all runs; and the private, paged "Show all" list of its events. Sized for a group's largest (1,000 events):
 * the message lists at most 10 resources and 10 failures, so it stays far inside Block Kit's limits whatever the count.
 */
import type { types } from '@slack/bolt';
import { z } from 'zod';
import type { OutgoingMessage } from '../../alerting/slack-sender.ts';
import { revertPlanForType } from '../../catalog.ts';
import type { StoredEvent } from '../../events.ts';
import { type GroupSummary, MAX_GROUP_EVENTS, SHOWN_FAILURES, SHOWN_RESOURCES } from '../../store/alert-groups.ts';
import {
  ACKNOWLEDGE_ACTION,
  GROUP_PAGE_NEXT_ACTION,
  GROUP_PAGE_PREVIOUS_ACTION,
  RETRY_FAILED_ACTION,
  REVERT_ALL_ACTION,
  SHOW_ALL_ACTION,
  SHOW_FAILURES_ACTION,
} from '../ids.ts';
import { escapeMrkdwn, slackDate, truncate } from '../mrkdwn.ts';
import {
  ALERT_METADATA_TYPE,
  type AlertRule,
  acknowledgedStatusText,
  BLOCK_KIT_LIMITS,
  SEVERITY_EMOJI,
  SILENCE_DURATIONS,
  SLACK_USER_ID,
  silenceMenu,
  withAlertStatus,
} from './alert.ts';
import { inline, inlineCode, joinWhole, mrkdwn } from './elements.ts';
import { eventSections } from './events-page.ts';
import { silencedStatusText } from './silences.ts';

export interface GroupedAlertInput {
  summary: GroupSummary;
  rule: AlertRule;
  /** Whether SEGMENT_API_TOKEN is set: without it a Revert all could only fail. */
  revertEnabled: boolean;
  /** The Slack users the shown actors' emails belong to (users.lookupByEmail), by actor id: shown as mentions. */
  actorSlackUserIds?: ReadonlyMap<string, string> | undefined;
}

/** What the grouped message's buttons carry: the workspace, the group, and a count or page. */
export interface GroupButtonValue {
  w: string;
  g: number;
  /** Revert all: the events it covers (those that had joined when the message was drawn). */
  n?: number;
  /** Show all: the page (1 = first); with `f`, pages of the last run's failures instead. */
  p?: number;
  f?: 1;
}

const groupButtonValue = z.strictObject({
  w: z.string().min(1),
  g: z.number().int().positive(),
  n: z.number().int().min(0).optional(),
  p: z.number().int().min(1).optional(),
  f: z.literal(1).optional(),
});

/** Reads a grouped message's button value back; undefined for anything this module did not make. */
export function parseGroupButtonValue(value: string | undefined): GroupButtonValue | undefined {
  if (!value || value.length > BLOCK_KIT_LIMITS.buttonValue) return undefined;
  try {
    const parsed = groupButtonValue.safeParse(JSON.parse(value));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Our budgets, well under Block Kit's limits (3,000 characters a section, 2,000 a field, 50 blocks). */
const BUDGET = {
  header: 140,
  field: 1000,
  part: 120,
  section: 2800,
  resourceLine: 250,
  failureLine: 260,
  context: 1900,
  mentions: 1000,
  fallback: 1000,
  confirmText: 280,
} as const;

export function buildGroupedAlertMessage({
  summary,
  rule,
  revertEnabled,
  actorSlackUserIds,
}: GroupedAlertInput): OutgoingMessage {
  const { group } = summary;
  const mentions = joinWhole(rule.mention, BUDGET.mentions);
  const description = rule.description && rule.description !== rule.id ? ` — ${part(rule.description, 300)}` : '';
  const count = group.count.toLocaleString('en-US');
  const blocks: types.KnownBlock[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: truncate(escapeMrkdwn(headerText(summary)), BUDGET.header), emoji: true },
    },
    {
      type: 'section',
      fields: [
        field(`*Rule*\n${code(rule.id)}${description}`),
        field(`*Severity*\n${SEVERITY_EMOJI[rule.severity]} ${rule.severity}`),
        field(actorsField(summary, actorSlackUserIds ?? new Map())),
        field(`*Events*\n${count} · first ${slackDate(summary.firstAt)}\nlatest ${slackDate(summary.latestAt)}`),
        field(`*Workspace*\n${code(group.workspaceId)}`),
        field(groupedByField(summary)),
      ],
    },
    { type: 'section', text: mrkdwn(resourcesText(summary), BUDGET.section) },
  ];
  if (mentions) blocks.push({ type: 'section', text: mrkdwn(mentions, BUDGET.section) });
  blocks.push({ type: 'context', elements: [mrkdwn(windowText(summary), BUDGET.context)] });
  const status = revertStatus(summary);
  if (status) blocks.push({ type: 'context', elements: [mrkdwn(status, BUDGET.context)] });
  const failures = failuresText(summary);
  if (failures) blocks.push({ type: 'section', text: mrkdwn(failures, BUDGET.section) });
  blocks.push(actionsBlock(summary, rule, revertEnabled));

  const summaryLine = truncate(
    `${SEVERITY_EMOJI[rule.severity]} ${escapeMrkdwn(headerText(summary))} (rule ${escapeMrkdwn(rule.id)})`,
    BUDGET.fallback,
  );
  return {
    text: mentions ? `${mentions} ${summaryLine}` : summaryLine,
    blocks: withStatusLines(blocks, summary),
    metadata: {
      event_type: ALERT_METADATA_TYPE,
      event_payload: {
        workspace_id: group.workspaceId,
        event_id: group.headEventId,
        rule_id: group.ruleId,
        group_id: group.id,
        count: group.count,
      },
    },
  };
}

/** "60 × Warehouses Disabled", or "60 alerts: Source Disabled, Warehouses Disabled" for several types. */
function headerText({ group, types }: GroupSummary): string {
  const count = group.count.toLocaleString('en-US');
  if (types.length === 1) return `${count} × ${types[0]!.type}`;
  const shown = types.slice(0, 3).map((t) => t.type);
  return `${count} alerts: ${shown.join(', ')}${types.length > shown.length ? ', …' : ''}`;
}

/**
 * The status lines owners' clicks left on the message (Acknowledge, Silence…), read from Postgres each time it is
 * drawn, so a redraw for a new member or a Revert all step keeps them; placed as on a single alert, above the buttons.
 */
function withStatusLines(blocks: types.KnownBlock[], { acknowledged, silenced }: GroupSummary): types.KnownBlock[] {
  let shown = blocks;
  if (acknowledged) {
    shown = withAlertStatus(shown, 'acknowledged', acknowledgedStatusText(acknowledged.by, acknowledged.at));
  }
  if (silenced) {
    const label = SILENCE_DURATIONS.find((d) => d.value === silenced.duration)?.label ?? silenced.duration;
    shown = withAlertStatus(shown, 'silenced', silencedStatusText(silenced.silence, silenced.by, label));
  }
  return shown;
}

function actorsField({ actors, actorCount }: GroupSummary, slackUserIds: ReadonlyMap<string, string>): string {
  const mention = (actorId: string) => {
    const userId = slackUserIds.get(actorId);
    return userId && SLACK_USER_ID.test(userId) ? `<@${userId}>` : undefined;
  };
  const first = actors[0];
  if (actorCount === 1 && first) {
    const slackUser = mention(first.id);
    let who: string;
    if (slackUser) who = first.name ? `${slackUser} (${part(first.name)})` : slackUser;
    else if (first.name && first.email) who = `${part(first.name)} (${part(first.email)})`;
    else who = part(first.name ?? first.email ?? first.id);
    return `*Actor*\n${who}\n${code(first.id)} · ${escapeMrkdwn(first.type)}`;
  }
  const names = actors.map((a) => mention(a.id) ?? part(a.name ?? a.email ?? a.id, 60)).join(', ');
  const more = actorCount > actors.length ? `, and ${actorCount - actors.length} more` : '';
  return `*Actors*\n${actorCount.toLocaleString('en-US')}: ${names}${more}`;
}

function groupedByField({ group }: GroupSummary): string {
  if (group.kind === 'storm') return `*Grouped by*\nstorm protection: one message per actor`;
  if (group.groupBy === null) return '*Grouped by*\nthe whole workspace';
  return `*Grouped by*\n${code(group.groupBy, 80)} = ${code(group.groupValue ?? '', 200)}`;
}

function resourcesText({ resources, resourceCount }: GroupSummary): string {
  const heading = `*Resources* (${resourceCount.toLocaleString('en-US')})`;
  const lines = resources.slice(0, SHOWN_RESOURCES).map((r) => {
    const name = r.name ? `${part(r.name, 80)} · ` : '';
    return truncate(`• ${name}${part(r.type, 40)} ${code(r.id, 100)}`, BUDGET.resourceLine);
  });
  const more = resourceCount - lines.length;
  if (more > 0) lines.push(`_…and ${more.toLocaleString('en-US')} more: Show all lists every event_`);
  return [heading, ...lines].join('\n');
}

function windowText({ group }: GroupSummary): string {
  const kind = group.kind === 'storm' ? 'Storm protection grouped these alerts' : 'Grouped alert';
  if (group.status === 'open') {
    const most = MAX_GROUP_EVENTS.toLocaleString('en-US');
    return (
      `${kind} · open: matches join this message until ${slackDate(group.closesAt)}, ` +
      `each one extending that by ${describeMs(group.withinMs)}, up to ${most} events`
    );
  }
  return `${kind} · closed: the next match opens a new message`;
}

function revertStatus({ group, run, reverted }: GroupSummary): string | undefined {
  const by = group.revertBy ? `<@${escapeMrkdwn(group.revertBy)}>` : 'an owner';
  const total = group.revertTotal ?? 0;
  const done = (o: string) => run[o] ?? 0;
  const processed = done('reverted') + done('already_reverted') + done('not_revertible') + done('failed');
  const what = group.revertScope === 'failed' ? 'Retry of the failed reverts' : 'Revert all';
  switch (group.revertState) {
    case 'queued':
      return `:hourglass: ${what} requested by ${by}: ${total.toLocaleString('en-US')} events queued for reverting…`;
    case 'running':
      return (
        `:hourglass_flowing_sand: Reverting ${processed.toLocaleString('en-US')} of ` +
        `${total.toLocaleString('en-US')}… (${what.toLowerCase()} by ${by})`
      );
    case 'done': {
      const parts = [
        `${done('reverted').toLocaleString('en-US')} reverted`,
        done('already_reverted') ? `${done('already_reverted').toLocaleString('en-US')} already reverted` : '',
        done('not_revertible') ? `${done('not_revertible').toLocaleString('en-US')} not revertible` : '',
        done('failed') ? `${done('failed').toLocaleString('en-US')} failed` : '',
      ].filter(Boolean);
      const when = group.revertFinishedAt ? ` at ${slackDate(group.revertFinishedAt)}` : '';
      const icon = done('failed') ? ':warning:' : ':leftwards_arrow_with_hook:';
      return `${icon} ${what} by ${by} finished${when}: ${parts.join(', ')}.`;
    }
    default:
      return reverted > 0
        ? `:leftwards_arrow_with_hook: ${reverted.toLocaleString('en-US')} of these changes were reverted already.`
        : undefined;
  }
}

function failuresText({ group, failed, failures }: GroupSummary): string | undefined {
  if (group.revertState !== 'done' || failed === 0) return undefined;
  const heading = `*Not reverted* (${failed.toLocaleString('en-US')})`;
  const lines = failures.slice(0, SHOWN_FAILURES).map((f) => {
    const name = f.resourceName ? `${part(f.resourceName, 60)} ` : '';
    return truncate(`• ${name}${code(f.resourceId, 80)}: ${part(f.reason, 160)}`, BUDGET.failureLine);
  });
  if (failed > lines.length)
    lines.push(`_…and ${(failed - lines.length).toLocaleString('en-US')} more: Show failures lists them_`);
  return [heading, ...lines].join('\n');
}

function actionsBlock(summary: GroupSummary, rule: AlertRule, revertEnabled: boolean): types.ActionsBlock {
  const { group, reverted, covered, types } = summary;
  const value = (extra: Partial<GroupButtonValue>) => JSON.stringify({ w: group.workspaceId, g: group.id, ...extra });
  const elements: (types.Button | types.StaticSelect)[] = [];
  // Once acknowledged the button goes, as on a single alert (an acknowledgement of the first alert counts).
  if (!summary.acknowledged) {
    elements.push({
      type: 'button',
      action_id: ACKNOWLEDGE_ACTION,
      text: { type: 'plain_text', text: 'Acknowledge' },
      style: 'primary',
      value: value({}),
    });
  }
  elements.push({
    type: 'button',
    action_id: SHOW_ALL_ACTION,
    text: { type: 'plain_text', text: 'Show all' },
    value: value({ p: 1 }),
  });
  const running = group.revertState === 'queued' || group.revertState === 'running';
  const revertible = revertEnabled && rule.revert && types.some((t) => revertPlanForType(t.type) !== undefined);
  // Before any run: what is not reverted yet. After one: only events no run has covered (those that joined since);
  // the failures of the last run have Retry failed, and events that cannot be reverted are not offered again.
  const remaining = group.revertRun === 0 ? group.count - reverted : group.count - covered;
  if (revertible && !running && remaining > 0) {
    const count = remaining.toLocaleString('en-US');
    elements.push({
      type: 'button',
      action_id: REVERT_ALL_ACTION,
      text: { type: 'plain_text', text: 'Revert all' },
      style: 'danger',
      value: value({ n: group.count }),
      confirm: {
        title: { type: 'plain_text', text: `Revert ${count} change${remaining === 1 ? '' : 's'}?` },
        text: {
          type: 'plain_text',
          text: truncate(
            `This undoes each of the ${count} change${remaining === 1 ? '' : 's'} of this group not reverted yet in ` +
              'Segment, one by one, and records each revert as its own audit event. Ones already reverted are skipped.',
            BUDGET.confirmText,
          ),
        },
        confirm: { type: 'plain_text', text: 'Revert all' },
        deny: { type: 'plain_text', text: 'Cancel' },
        style: 'danger',
      },
    });
  }
  const failed = group.revertState === 'done' ? summary.failed : 0;
  if (revertible && failed > 0) {
    const count = failed.toLocaleString('en-US');
    elements.push({
      type: 'button',
      action_id: RETRY_FAILED_ACTION,
      text: { type: 'plain_text', text: 'Retry failed' },
      style: 'danger',
      value: value({ n: failed }),
      confirm: {
        title: { type: 'plain_text', text: `Retry ${count} failed revert${failed === 1 ? '' : 's'}?` },
        text: {
          type: 'plain_text',
          text: `This tries again to revert the ${count} change${failed === 1 ? '' : 's'} that failed.`,
        },
        confirm: { type: 'plain_text', text: 'Retry' },
        deny: { type: 'plain_text', text: 'Cancel' },
        style: 'danger',
      },
    });
  }
  if (failed > SHOWN_FAILURES) {
    elements.push({
      type: 'button',
      action_id: SHOW_FAILURES_ACTION,
      text: { type: 'plain_text', text: 'Show failures' },
      value: value({ p: 1, f: 1 }),
    });
  }
  // The group spans resources: its menu silences the rule for every resource.
  elements.push(silenceMenu());
  return { type: 'actions', elements };
}

// ---- Show all ---------------------------------------------------------------------------------------------------

/** Events per page of Show all: with the header and buttons, well under 50 blocks and the page's text budget. */
export const SHOW_ALL_PAGE_SIZE = 20;

export interface GroupPageInput {
  summary: GroupSummary;
  page: number;
  /** The page's events, oldest first; a failures page carries each one's reason. */
  events: readonly { event: StoredEvent | undefined; eventId: string; reason?: string | null }[];
  failuresOnly: boolean;
}

/** One page of a group's events (or of its last run's failures), for the clicker only, with Previous and Next. */
export function buildGroupPage({ summary, page, events, failuresOnly }: GroupPageInput): {
  text: string;
  blocks: types.KnownBlock[];
} {
  const { group } = summary;
  const total = failuresOnly ? summary.failed : group.count;
  const pages = Math.max(1, Math.ceil(total / SHOW_ALL_PAGE_SIZE));
  const what = failuresOnly ? 'revert failures' : 'events';
  const header: types.ContextBlock = {
    type: 'context',
    elements: [
      mrkdwn(
        `:mag: *${escapeMrkdwn(headerText(summary))}* · rule ${code(group.ruleId)} · ${what} ${(
          (page - 1) * SHOW_ALL_PAGE_SIZE + 1
        ).toLocaleString('en-US')}–${Math.min(page * SHOW_ALL_PAGE_SIZE, total).toLocaleString(
          'en-US',
        )} of ${total.toLocaleString('en-US')}, oldest first · page ${page} of ${pages}`,
        BUDGET.context,
      ),
    ],
  };
  const blocks: types.KnownBlock[] = [header];
  if (events.length === 0) {
    blocks.push({ type: 'section', text: mrkdwn(`No ${what} on this page.`, BUDGET.section) });
  } else if (failuresOnly) {
    const lines = events.map(({ event, eventId, reason }) => {
      const resource =
        event && `${part(event.resource.name ?? event.resource.type, 60)} ${code(event.resource.id, 80)}`;
      const about = event ? `*${part(event.type, 60)}* · ${resource}` : `${code(eventId, 80)} (no longer stored)`;
      return truncate(`• ${about}\n   ${part(reason ?? 'unknown reason', 400)}`, 700);
    });
    for (let i = 0; i < lines.length; i += 4) {
      blocks.push({ type: 'section', text: mrkdwn(lines.slice(i, i + 4).join('\n'), BUDGET.section) });
    }
  } else {
    const stored = events.flatMap(({ event }) => (event ? [event] : []));
    if (stored.length) blocks.push(...eventSections(stored));
    const gone = events.length - stored.length;
    if (gone > 0)
      blocks.push({
        type: 'context',
        elements: [mrkdwn(`${gone} of these events are no longer stored (retention).`, BUDGET.context)],
      });
  }
  const nav: types.Button[] = [];
  const value = (p: number) => JSON.stringify({ w: group.workspaceId, g: group.id, p, ...(failuresOnly && { f: 1 }) });
  if (page > 1)
    nav.push({
      type: 'button',
      action_id: GROUP_PAGE_PREVIOUS_ACTION,
      text: { type: 'plain_text', text: 'Previous' },
      value: value(page - 1),
    });
  if (page < pages)
    nav.push({
      type: 'button',
      action_id: GROUP_PAGE_NEXT_ACTION,
      text: { type: 'plain_text', text: 'Next' },
      value: value(page + 1),
    });
  if (nav.length) blocks.push({ type: 'actions', elements: nav });
  return {
    text: truncate(`${escapeMrkdwn(headerText(summary))}: ${what}, page ${page} of ${pages}`, BUDGET.fallback),
    blocks,
  };
}

function describeMs(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000}d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function field(text: string): types.MrkdwnElement {
  return mrkdwn(text, BUDGET.field);
}

function part(text: string, max: number = BUDGET.part): string {
  return inline(text, max);
}

function code(text: string, max: number = BUDGET.part): string {
  return inlineCode(text, max);
}
