/** The Block Kit message posted to a channel when a rule matches an event (SPEC section 5). */
import type { types } from '@slack/bolt';
import type { Severity } from '../../alerting/rules/types.ts';
import { RESOURCE_NOUN, type RevertPlan, revertPlanFor } from '../../catalog.ts';
import type { JsonObject, StoredEvent } from '../../events.ts';
import { ACKNOWLEDGE_ACTION, OPEN_LINK_ACTION, REVERT_ACTION, SHOW_TRAIL_ACTION, SILENCE_ACTION } from '../ids.ts';
import { escapeMrkdwn, slackDate, truncate } from '../mrkdwn.ts';
import { inline, inlineCode, joinWhole, mrkdwn } from './elements.ts';

/** The parts of a rule the alert shows or obeys. */
export interface AlertRule {
  id: string;
  description?: string;
  severity: Severity;
  /** Trusted text from the rule author (`<!subteam^S0123>`), posted as written. */
  mention: readonly string[];
  revert: boolean;
}

export interface AlertInput extends AlertDetails {
  event: StoredEvent;
  rule: AlertRule;
  /** Whether SEGMENT_API_TOKEN is set: without it a Revert click could only fail. */
  revertEnabled: boolean;
}

/** What makes an alert easier to read, found just before it is posted. */
export interface AlertDetails {
  /** The Slack user the actor's email belongs to (users.lookupByEmail): shown as a mention. */
  actorSlackUserId?: string | undefined;
  /** RESOURCE_URLS' link for the resource: an "Open" button. */
  resourceUrl?: string | undefined;
}

/** Message metadata `event_type` of an alert; conversations.history with it tells whether one was already posted. */
export const ALERT_METADATA_TYPE = 'audit_alert';

export interface AlertMetadata {
  event_type: typeof ALERT_METADATA_TYPE;
  event_payload: { workspace_id: string; event_id: string; rule_id: string };
}

export interface AlertMessage {
  text: string;
  blocks: types.KnownBlock[];
  metadata: AlertMetadata;
}

/** What the alert's buttons carry: which event (and which rule's alert of it) to act on, in few characters. */
export interface AlertButtonValue {
  w: string;
  e: string;
  /** The rule; absent on alerts posted before Acknowledge existed. */
  r?: string;
}

/** The durations the alert's Silence menu offers, as its option values. */
export const SILENCE_DURATIONS = [
  { value: '1h', label: '1 hour' },
  { value: '8h', label: '8 hours' },
  { value: '24h', label: '24 hours' },
  { value: '7d', label: '7 days' },
] as const;

/**
 * The status lines owners' actions add to an alert, each a context block with its own block_id: a later action of
 * the same kind replaces its line (never stacks), and every update keeps the others' lines, in this order, just
 * above the buttons.
 */
export const ALERT_STATUS_BLOCKS = {
  acknowledged: 'audit_acknowledged',
  /** The id the Revert button's outcome has always used, so alerts posted before keep working. */
  reverted: 'audit_outcome',
  silenced: 'audit_silenced',
} as const;
export type AlertStatusKind = keyof typeof ALERT_STATUS_BLOCKS;

export const SEVERITY_EMOJI: Readonly<Record<Severity, string>> = {
  critical: ':rotating_light:',
  warning: ':warning:',
  info: ':information_source:',
};

/** Block Kit's hard limits, for the tests and for anyone building on these blocks. */
export const BLOCK_KIT_LIMITS = {
  blocksPerMessage: 50,
  headerText: 150,
  sectionText: 3000,
  fieldText: 2000,
  fieldsPerSection: 10,
  contextText: 2000,
  buttonText: 75,
  buttonValue: 2000,
  buttonUrl: 3000,
  actionId: 255,
  blockId: 255,
  optionText: 75,
  optionValue: 150,
  selectOptions: 100,
  selectPlaceholder: 150,
  blocksPerView: 100,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
} as const;

/** Our own budgets, well under the limits, so a count that differs from Slack's by a little still fits. */
const BUDGET = {
  header: 140,
  field: 1000,
  /** One producer value inside a field (a name, an id, an email). */
  part: 200,
  section: 2500,
  changeKey: 100,
  changeValue: 160,
  context: 1000,
  confirmText: 280,
  confirmName: 80,
  mentions: 1000,
  fallback: 1000,
  status: 1900,
} as const;

export function buildAlertMessage(input: AlertInput): AlertMessage {
  const { event, rule, revertEnabled, actorSlackUserId, resourceUrl } = input;
  const mentions = joinWhole(rule.mention, BUDGET.mentions);
  const blocks: types.KnownBlock[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: truncate(escapeMrkdwn(event.type), BUDGET.header), emoji: true },
    },
    {
      type: 'section',
      fields: [
        actorField(event, actorSlackUserId),
        resourceField(event),
        mrkdwn(`*Workspace*\n${code(event.workspaceId)}`, BUDGET.field),
        mrkdwn(`*Time*\n${slackDate(event.timestamp)}`, BUDGET.field),
        ruleField(rule),
        mrkdwn(`*Severity*\n${SEVERITY_EMOJI[rule.severity]} ${rule.severity}`, BUDGET.field),
      ],
    },
  ];
  const changes = changeSummary(event.changes);
  if (changes) blocks.push({ type: 'section', text: mrkdwn(changes, BUDGET.section) });
  if (mentions) blocks.push({ type: 'section', text: mrkdwn(mentions, BUDGET.section) });
  // The ids people rarely need stay out of the fields, down here (and in Show trail).
  blocks.push({
    type: 'context',
    elements: [
      mrkdwn(
        `Event ${code(event.id)} · actor ${code(event.actor.id)} · ${part(event.category)} · seq ${event.seq}`,
        BUDGET.context,
      ),
    ],
  });
  const actions = actionsBlock(event, rule, revertEnabled, resourceUrl);
  if (actions) blocks.push(actions);

  return {
    text: fallbackText(event, rule.severity, mentions),
    blocks,
    metadata: {
      event_type: ALERT_METADATA_TYPE,
      event_payload: { workspace_id: event.workspaceId, event_id: event.id, rule_id: rule.id },
    },
  };
}

/** Reads an alert button's value back; undefined for anything this builder did not make. */
export function parseAlertButtonValue(value: string | undefined): AlertButtonValue | undefined {
  if (!value) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    if (parsed === null || typeof parsed !== 'object') return undefined;
    const { w, e, r } = parsed as Record<string, unknown>;
    if (typeof w !== 'string' || typeof e !== 'string') return undefined;
    return typeof r === 'string' ? { w, e, r } : { w, e };
  } catch {
    return undefined;
  }
}

/**
 * The alert's blocks with a status line of `kind` set to `text` (replacing an earlier one of that kind), every status
 * line in ALERT_STATUS_BLOCKS order just above the buttons, and everything else as it was.
 */
export function withAlertStatus<B extends AnyBlock>(
  blocks: readonly B[],
  kind: AlertStatusKind,
  text: string,
): (B | types.ContextBlock)[] {
  const statusIds: readonly string[] = Object.values(ALERT_STATUS_BLOCKS);
  const statuses = new Map<string, B | types.ContextBlock>();
  const rest: B[] = [];
  for (const block of blocks) {
    if (block.block_id && statusIds.includes(block.block_id)) statuses.set(block.block_id, block);
    else rest.push(block);
  }
  statuses.set(ALERT_STATUS_BLOCKS[kind], {
    type: 'context',
    block_id: ALERT_STATUS_BLOCKS[kind],
    elements: [{ type: 'mrkdwn', text: truncate(text, BUDGET.status) }],
  });
  const ordered = Object.values(ALERT_STATUS_BLOCKS).flatMap((id) => statuses.get(id) ?? []);
  const actionsAt = rest.findIndex((block) => block.type === 'actions');
  const at = actionsAt === -1 ? rest.length : actionsAt;
  return [...rest.slice(0, at), ...ordered, ...rest.slice(at)];
}

/** The alert's blocks without the control `actionId` (a used Acknowledge, a done Revert); an emptied row goes too. */
export function withoutAlertControl<B extends AnyBlock>(blocks: readonly B[], actionId: string): B[] {
  return blocks.flatMap((block) => {
    if (block.type !== 'actions') return [block];
    const { elements } = block as unknown as { elements?: { action_id?: string }[] };
    const kept = (elements ?? []).filter((element) => element.action_id !== actionId);
    if (kept.length === 0) return [];
    return [{ ...block, elements: kept }];
  });
}

/** Any block as Slack hands it back in a click's message (types.Block) or as built here. */
type AnyBlock = types.KnownBlock | types.Block;

function actorField({ actor }: StoredEvent, slackUserId: string | undefined): types.MrkdwnElement {
  let who: string;
  if (slackUserId && SLACK_USER_ID.test(slackUserId)) {
    who = actor.name ? `<@${slackUserId}> (${part(actor.name)})` : `<@${slackUserId}>`;
  } else if (actor.name && actor.email) {
    who = `${part(actor.name)} (${part(actor.email)})`;
  } else {
    who = actor.name || actor.email ? part(actor.name ?? actor.email ?? '') : code(actor.id);
  }
  return mrkdwn(`*Actor*\n${who} · ${escapeMrkdwn(actor.type)}`, BUDGET.field);
}

/** Only a real Slack user ID becomes `<@…>` markup. */
export const SLACK_USER_ID = /^[UW][A-Z0-9]{2,}$/;

function resourceField({ resource }: StoredEvent): types.MrkdwnElement {
  const name = resource.name ? `${part(resource.name)}\n` : '';
  return mrkdwn(`*Resource*\n${name}${part(resource.type)} · ${code(resource.id)}`, BUDGET.field);
}

function ruleField(rule: AlertRule): types.MrkdwnElement {
  const description = rule.description ? ` — ${part(rule.description, BUDGET.field)}` : '';
  return mrkdwn(`*Rule*\n${code(rule.id)}${description}`, BUDGET.field);
}

/** "field: before → after" lines, as many as fit the budget, then how many were left out. */
function changeSummary(changes: JsonObject | null): string | undefined {
  if (!changes || Object.keys(changes).length === 0) return undefined;
  const heading = '*Changes*';
  const hasBeforeOrAfter = 'before' in changes || 'after' in changes;
  if (!hasBeforeOrAfter) return `${heading}\n${value(changes, BUDGET.section - heading.length - 10)}`;

  const before = asObject(changes.before);
  const after = asObject(changes.after);
  // Objects are compared field by field; anything else (a bare string, a list) is shown as one value.
  const fieldByField = (changes.before === undefined || before) && (changes.after === undefined || after);
  const lines = fieldByField
    ? unionKeys(before, after).map(
        (key) => `• *${part(key, BUDGET.changeKey)}*: ${side(before, key)} → ${side(after, key)}`,
      )
    : [`• ${side(changes, 'before')} → ${side(changes, 'after')}`];

  const kept: string[] = [];
  let length = heading.length;
  const reserve = 40; // room for the "…and N more" line
  for (const line of lines) {
    if (length + 1 + line.length > BUDGET.section - reserve) break;
    kept.push(line);
    length += 1 + line.length;
  }
  if (kept.length < lines.length) kept.push(`_…and ${lines.length - kept.length} more_`);
  return [heading, ...kept].join('\n');
}

function side(object: JsonObject | undefined, key: string): string {
  if (!object || !(key in object)) return '_(none)_';
  return value(object[key], BUDGET.changeValue);
}

function value(raw: unknown, max: number): string {
  const json = JSON.stringify(raw) ?? String(raw);
  return code(json, max);
}

function unionKeys(a: JsonObject | undefined, b: JsonObject | undefined): string[] {
  return [...new Set([...Object.keys(a ?? {}), ...Object.keys(b ?? {})])];
}

function asObject(value: unknown): JsonObject | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as JsonObject) : undefined;
}

function actionsBlock(
  event: StoredEvent,
  rule: AlertRule,
  revertEnabled: boolean,
  resourceUrl: string | undefined,
): types.ActionsBlock | undefined {
  const value = JSON.stringify({ w: event.workspaceId, e: event.id, r: rule.id } satisfies AlertButtonValue);
  // Ids are the lookup key, so they cannot be shortened; ids this long are refused upstream, and no button beats a
  // broken one.
  if (value.length > BLOCK_KIT_LIMITS.buttonValue) return undefined;
  const elements: (types.Button | types.StaticSelect)[] = [
    {
      type: 'button',
      action_id: ACKNOWLEDGE_ACTION,
      text: { type: 'plain_text', text: 'Acknowledge' },
      style: 'primary',
      value,
    },
    { type: 'button', action_id: SHOW_TRAIL_ACTION, text: { type: 'plain_text', text: 'Show trail' }, value },
  ];
  if (resourceUrl && resourceUrl.length <= BLOCK_KIT_LIMITS.buttonUrl) {
    const text = { type: 'plain_text', text: 'Open' } as const;
    elements.push({ type: 'button', action_id: OPEN_LINK_ACTION, text, url: resourceUrl });
  }
  const plan = revertEnabled && rule.revert ? revertPlanFor(event) : undefined;
  if (plan) {
    elements.push({
      type: 'button',
      action_id: REVERT_ACTION,
      text: { type: 'plain_text', text: 'Revert' },
      style: 'danger',
      value,
      confirm: {
        title: { type: 'plain_text', text: 'Revert this change?' },
        text: { type: 'plain_text', text: truncate(describeRevert(plan, event), BUDGET.confirmText) },
        confirm: { type: 'plain_text', text: 'Revert' },
        deny: { type: 'plain_text', text: 'Cancel' },
        style: 'danger',
      },
    });
  }
  elements.push(silenceMenu());
  return { type: 'actions', elements };
}

/**
 * The Silence… menu of an alert or a grouped alert. What to silence is found from the message clicked (its buttons'
 * values), so the options carry only a duration.
 */
export function silenceMenu(): types.StaticSelect {
  return {
    type: 'static_select',
    action_id: SILENCE_ACTION,
    placeholder: { type: 'plain_text', text: 'Silence…' },
    options: SILENCE_DURATIONS.map(({ value: duration, label }) => ({
      text: { type: 'plain_text', text: `for ${label}` },
      value: duration,
    })),
  };
}

/** The status line Acknowledge leaves on an alert or a grouped alert. */
export function acknowledgedStatusText(userId: string, at: Date | string): string {
  return `:eyes: Acknowledged by <@${escapeMrkdwn(userId)}> at ${slackDate(at)}`;
}

/** The inverse change in words, so the person confirming knows what Segment will be asked to do. */
function describeRevert(plan: RevertPlan, event: StoredEvent): string {
  const { resource } = event;
  const name = truncate(escapeMrkdwn(resource.name ?? resource.id), BUDGET.confirmName);
  const recorded = `and records a “${plan.inverseType}” event`;
  switch (plan.kind) {
    case 'toggle':
    case 'warehouse-toggle': {
      const noun = plan.kind === 'warehouse-toggle' ? 'warehouse' : RESOURCE_NOUN[plan.path];
      return `This ${plan.enabled ? 'enables' : 'disables'} the ${noun} “${name}” in Segment again ${recorded}.`;
    }
    case 'restore': {
      const before = asObject(event.changes?.before) ?? {};
      const fields = plan.fields.filter((field) => field in before).join(', ');
      return (
        `This sets ${fields} of the ${RESOURCE_NOUN[plan.target]} “${name}” ` +
        `back to their values before this change ${recorded}.`
      );
    }
  }
}

/** What notifications and screen readers show: "<emoji> <type>: <resource> by <actor>", after any mentions. */
function fallbackText(event: StoredEvent, severity: Severity, mentions: string): string {
  const { actor, resource } = event;
  const summary = truncate(
    `${SEVERITY_EMOJI[severity]} ${escapeMrkdwn(event.type)}: ${part(resource.name ?? resource.id)} ` +
      `by ${part(actor.name ?? actor.email ?? actor.id)}`,
    BUDGET.fallback,
  );
  return mentions ? `${mentions} ${summary}` : summary;
}

function part(text: string, max: number = BUDGET.part): string {
  return inline(text, max);
}

function code(text: string, max: number = BUDGET.part): string {
  return inlineCode(text, max);
}
