/**
 * Silences in Slack: a running one as a line (with its Unsilence button), the `/audit silences` list, the summary
 * posted when one ends, the page of alerts it held back ("Show them"), and the status line an alert gets when it is
 * silenced from its menu.
 */
import type { types } from '@slack/bolt';
import type { StoredEvent } from '../../events.ts';
import type { SilenceRow } from '../../store/schema/index.ts';
import type { ActiveSilence } from '../../store/silences.ts';
import { SILENCE_SYNTAX } from '../command/silence.ts';
import { SHOW_HELD_BACK_ACTION, UNSILENCE_ACTION } from '../ids.ts';
import { escapeMrkdwn, slackDate, truncate } from '../mrkdwn.ts';
import { BLOCK_KIT_LIMITS } from './alert.ts';
import { context, inline, mrkdwn, section } from './elements.ts';
import { eventSections } from './events-page.ts';

/** Message metadata `event_type` of a silence summary: how a second try finds one already posted. */
export const SILENCE_SUMMARY_METADATA_TYPE = 'audit_silence_summary';

/** Alerts per "Show them" page: each is a section, so a page stays well under 50 blocks. */
export const HELD_BACK_PAGE = 20;

/** What "Show them" and its Next button carry (the workspace is the clicker's, checked against the silence's). */
export interface HeldBackValue {
  s: number;
  /** Page number, from 1. */
  p: number;
}

export interface SlackMessage {
  text: string;
  blocks: types.KnownBlock[];
}

export interface SilenceSummary extends SlackMessage {
  metadata: { event_type: string; event_payload: { workspace_id: string; silence_id: number } };
}

/** `#12 · rule … · resource … · until … · set by … · N held back`. */
export function silenceLine(silence: ActiveSilence): string {
  const held = silence.heldBack === 1 ? '1 alert held back' : `${silence.heldBack} alerts held back`;
  return (
    `:no_bell: *#${silence.id}* · rule \`${part(silence.ruleId)}\` · ${scope(silence)}\n` +
    `until ${slackDate(silence.endsAt)} · set by <@${part(silence.createdBy)}> · ${held}`
  );
}

export function unsilenceButton(silence: SilenceRow): types.Button {
  return {
    type: 'button',
    action_id: UNSILENCE_ACTION,
    text: { type: 'plain_text', text: 'Unsilence' },
    value: String(silence.id),
  };
}

/** `/audit silences`: every running silence with its Unsilence button, or how to make one. */
export function buildSilencesList(
  workspaceId: string,
  silences: readonly ActiveSilence[],
  total: number,
): SlackMessage {
  const workspace = `\`${part(workspaceId)}\``;
  if (silences.length === 0) {
    const text = `No silences are running in workspace ${workspace}.`;
    // Our own text, but `<rule-id>` would still read as markup to Slack.
    const how = `Silence an alert from its *Silence…* menu, or with \`${escapeMrkdwn(SILENCE_SYNTAX.silence)}\`.`;
    return { text, blocks: [section(`${text}\n${how}`)] };
  }
  const count = total === 1 ? '1 silence' : `${total} silences`;
  const blocks: types.KnownBlock[] = [
    context(`:no_bell: *${count} running* in workspace ${workspace}, ending soonest first`),
  ];
  for (const silence of silences) {
    blocks.push({ type: 'section', text: mrkdwn(silenceLine(silence)), accessory: unsilenceButton(silence) });
  }
  if (total > silences.length) blocks.push(context(`…and ${total - silences.length} more, ending later.`));
  return { text: `${count} running in workspace ${workspace}`, blocks };
}

/** Posted in the rule's channel when a silence ends: how many alerts it held back, and "Show them". */
export function buildSilenceSummary(silence: SilenceRow, heldBack: number): SilenceSummary {
  const held = heldBack === 1 ? '1 alert' : `${heldBack.toLocaleString('en-US')} alerts`;
  const what = `rule \`${part(silence.ruleId)}\` for ${scope(silence)}`;
  const ended = silence.endedBy ? `unsilenced by <@${part(silence.endedBy)}>` : 'its time ran out';
  const blocks: types.KnownBlock[] = [
    section(
      `:bell: *Silence #${silence.id} has ended* (${ended}): alerts of ${what} are posted again.\n` +
        `It held back *${held}* between ${slackDate(silence.createdAt)} and ${slackDate(silence.endsAt)}.`,
    ),
    context(`Set by <@${part(silence.createdBy)}>. Held-back events are stored in the audit trail as usual.`),
  ];
  if (heldBack > 0) {
    blocks.push({
      type: 'actions',
      elements: [
        {
          type: 'button',
          action_id: SHOW_HELD_BACK_ACTION,
          text: { type: 'plain_text', text: 'Show them' },
          value: encodeHeldBackValue({ s: silence.id, p: 1 }),
        },
      ],
    });
  }
  return {
    text: truncate(
      `Silence #${silence.id} has ended: it held back ${held} of rule ${escapeMrkdwn(silence.ruleId)}.`,
      1000,
    ),
    blocks,
    metadata: {
      event_type: SILENCE_SUMMARY_METADATA_TYPE,
      event_payload: { workspace_id: silence.workspaceId, silence_id: silence.id },
    },
  };
}

/** One page of the alerts a silence held back, oldest first, with Next while more remain. */
export function buildHeldBackPage(
  silence: SilenceRow,
  events: readonly StoredEvent[],
  page: { number: number; total: number },
): SlackMessage {
  const first = (page.number - 1) * HELD_BACK_PAGE + 1;
  const last = first + events.length - 1;
  const range = events.length === 0 ? 'none on this page' : `${first}–${last} of ${page.total}`;
  const head = context(
    `:no_bell: *Held back by silence #${silence.id}* · rule \`${part(silence.ruleId)}\` · ${scope(silence)} · ` +
      `${range}, oldest first`,
  );
  if (events.length === 0) {
    return { text: `Silence #${silence.id} held back no alerts.`, blocks: [head, section('No alerts here.')] };
  }
  const blocks: types.KnownBlock[] = [head, ...eventSections(events)];
  if (last < page.total) {
    blocks.push({
      type: 'actions',
      elements: [
        {
          type: 'button',
          action_id: SHOW_HELD_BACK_ACTION,
          text: { type: 'plain_text', text: 'Next' },
          value: encodeHeldBackValue({ s: silence.id, p: page.number + 1 }),
        },
      ],
    });
  }
  return { text: `Alerts held back by silence #${silence.id}: ${range}`, blocks };
}

/**
 * The status line an alert gets when an owner silences it from its menu; a grouped message redrawn after that silence
 * ended (its time ran out, or someone unsilenced it) says so instead of promising to hold alerts back.
 */
export function silencedStatusText(silence: SilenceRow, userId: string, label: string, now = new Date()): string {
  const endedAt = silence.endedAt ?? (silence.endsAt <= now ? silence.endsAt : undefined);
  if (endedAt) {
    return (
      `:bell: Silenced by <@${part(userId)}> for ${label}: silence #${silence.id} of rule ` +
      `\`${part(silence.ruleId)}\` for ${scope(silence)} ended ${slackDate(endedAt)}.`
    );
  }
  return (
    `:no_bell: Silenced by <@${part(userId)}> for ${label} (until ${slackDate(silence.endsAt)}): alerts of rule ` +
    `\`${part(silence.ruleId)}\` for ${scope(silence)} are held back. \`/audit unsilence ${silence.id}\` ends it.`
  );
}

export function encodeHeldBackValue(value: HeldBackValue): string {
  return JSON.stringify(value);
}

/** A "Show them"/Next value read back; undefined for anything this module did not make. */
export function decodeHeldBackValue(text: string | undefined): HeldBackValue | undefined {
  if (!text || text.length > BLOCK_KIT_LIMITS.buttonValue) return undefined;
  try {
    const { s, p } = JSON.parse(text) as Record<string, unknown>;
    const whole = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 1;
    return whole(s) && whole(p) ? { s, p } : undefined;
  } catch {
    return undefined;
  }
}

/** `resource \`wh_1\`` or `every resource`. */
function scope(silence: SilenceRow): string {
  return silence.resourceId === null ? 'every resource' : `resource \`${part(silence.resourceId)}\``;
}

function part(text: string, max = 120): string {
  return inline(text, max);
}
