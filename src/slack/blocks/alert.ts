/** The Block Kit message posted to a channel when a rule matches an event (SPEC section 5). */
import type { types } from '@slack/bolt';
import type { Severity } from '../../alerting/rules/types.ts';
import { RESOURCE_NOUN, revertPlanFor, type RevertPlan } from '../../catalog.ts';
import type { JsonObject, StoredEvent } from '../../events.ts';
import { REVERT_ACTION, SHOW_TRAIL_ACTION } from '../ids.ts';
import { escapeMrkdwn, slackDate, truncate } from '../mrkdwn.ts';

/** The parts of a rule the alert shows or obeys. */
export interface AlertRule {
  id: string;
  description?: string;
  severity: Severity;
  /** Trusted text from the rule author (`<!subteam^S0123>`), posted as written. */
  mention: readonly string[];
  revert: boolean;
}

export interface AlertInput {
  event: StoredEvent;
  rule: AlertRule;
  /** Whether SEGMENT_API_TOKEN is set: without it a Revert click could only fail. */
  revertEnabled: boolean;
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

/** What the Show trail and Revert buttons carry: which event to act on, in few characters. */
export interface AlertButtonValue {
  w: string;
  e: string;
}

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
} as const;

export function buildAlertMessage({ event, rule, revertEnabled }: AlertInput): AlertMessage {
  const mentions = joinWhole(rule.mention, BUDGET.mentions);
  const blocks: types.KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(escapeMrkdwn(event.type), BUDGET.header), emoji: true } },
    {
      type: 'section',
      fields: [
        actorField(event),
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
  blocks.push({
    type: 'context',
    elements: [
      mrkdwn(`Event ${code(event.id)} · ${escapeMrkdwn(event.category)} · seq ${event.seq}`, BUDGET.context),
    ],
  });
  const actions = actionsBlock(event, rule, revertEnabled);
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

/** Reads a Show trail or Revert button value back; undefined for anything this builder did not make. */
export function parseAlertButtonValue(value: string | undefined): AlertButtonValue | undefined {
  if (!value) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    if (parsed === null || typeof parsed !== 'object') return undefined;
    const { w, e } = parsed as Record<string, unknown>;
    return typeof w === 'string' && typeof e === 'string' ? { w, e } : undefined;
  } catch {
    return undefined;
  }
}

function actorField({ actor }: StoredEvent): types.MrkdwnElement {
  const who = actor.name && actor.email
    ? `${part(actor.name)} (${part(actor.email)})`
    : part(actor.name ?? actor.email ?? actor.id);
  return mrkdwn(`*Actor*\n${who}\n${code(actor.id)} · ${escapeMrkdwn(actor.type)}`, BUDGET.field);
}

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
    ? unionKeys(before, after).map((key) => `• *${part(key, BUDGET.changeKey)}*: ${side(before, key)} → ${side(after, key)}`)
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

function actionsBlock(event: StoredEvent, rule: AlertRule, revertEnabled: boolean): types.ActionsBlock | undefined {
  const value = JSON.stringify({ w: event.workspaceId, e: event.id } satisfies AlertButtonValue);
  // Ids are the lookup key, so they cannot be shortened; ids this long are refused upstream, and no button beats a broken one.
  if (value.length > BLOCK_KIT_LIMITS.buttonValue) return undefined;
  const elements: types.Button[] = [
    { type: 'button', action_id: SHOW_TRAIL_ACTION, text: { type: 'plain_text', text: 'Show trail' }, value },
  ];
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
  return { type: 'actions', elements };
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
      return `This sets ${fields} of the ${RESOURCE_NOUN[plan.target]} “${name}” back to their values before this change ${recorded}.`;
    }
  }
}

/** What notifications and screen readers show: "<emoji> <type>: <resource> by <actor>", after any mentions. */
function fallbackText(event: StoredEvent, severity: Severity, mentions: string): string {
  const { actor, resource } = event;
  const summary = truncate(
    `${SEVERITY_EMOJI[severity]} ${escapeMrkdwn(event.type)}: ${part(resource.name ?? resource.id)} by ${part(actor.name ?? actor.email ?? actor.id)}`,
    BUDGET.fallback,
  );
  return mentions ? `${mentions} ${summary}` : summary;
}

/** Joins trusted tokens whole: cutting `<!subteam^S0123>` in half would post broken markup instead of a mention. */
function joinWhole(tokens: readonly string[], max: number): string {
  let joined = '';
  for (const token of tokens) {
    const next = joined ? `${joined} ${token}` : token;
    if (next.length > max) break;
    joined = next;
  }
  return joined;
}

/** `verbatim` stops Slack from turning bare names and URLs into links; our escaped text then stays plain text. */
function mrkdwn(text: string, max: number): types.MrkdwnElement {
  return { type: 'mrkdwn', text: truncate(text, max), verbatim: true };
}

function part(text: string, max: number = BUDGET.part): string {
  return truncate(escapeMrkdwn(text), max);
}

/** Inline code, unless the text holds a backtick that would end the span early and garble the rest. */
function code(text: string, max: number = BUDGET.part): string {
  const inner = part(text, max - 2);
  return inner.includes('`') ? inner : `\`${inner}\``;
}
