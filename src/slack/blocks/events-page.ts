/**
 * One page of `/audit` results as an ephemeral Block Kit message, and the "Next" button that fetches the following
 * page.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { types } from '@slack/bolt';
import { z } from 'zod';
import type { Actor, JsonObject, StoredEvent } from '../../events.ts';
import { filterFieldsSchema } from '../../filters.ts';
import { withoutUndefined } from '../../json.ts';
import { decodeCursor, type EventFilters } from '../../store/queries.ts';
import { describeFilters } from '../command/describe.ts';
import { SLACK_PAGE_MAX } from '../command/filters.ts';
import { NEXT_PAGE_ACTION } from '../ids.ts';
import { escapeMrkdwn, slackDate, truncate } from '../mrkdwn.ts';
import { BLOCK_KIT_LIMITS } from './alert.ts';
import { inlineCode as code, mrkdwn, inline as part } from './elements.ts';

export interface EventsPageInput {
  events: readonly StoredEvent[];
  nextCursor: string | null;
  filters: EventFilters;
  limit: number;
  /** 1 for the first page; the Next button carries the following number. */
  pageNumber: number;
}

export interface EventsPage {
  text: string;
  blocks: types.KnownBlock[];
}

/** What the Next button carries: everything needed to fetch the following page, since Slack gives back nothing else. */
export interface NextPageValue {
  /** The page's nextCursor, as listEvents made it. */
  cursor: string;
  filters: EventFilters;
  limit: number;
  /** The number of the page the button shows. */
  pageNumber: number;
}

/** Sections for events: with the header and footer blocks, well under Block Kit's 50. */
const MAX_EVENT_SECTIONS = 45;

/** Our own budgets, under Block Kit's limits, so the message stays readable and a comfortable size. */
const BUDGET = {
  /** Event text across the whole page, shared out between its events. */
  page: 24_000,
  eventMin: 300,
  eventMax: 1500,
  section: 2900,
  /** One producer value (a name, an id, an email), at most; less when an event's share of the page is small. */
  partMax: 120,
  partMin: 16,
  changeKey: 60,
  changeValue: 80,
  summary: 1500,
  fallback: 1000,
} as const;

/** Characters in an event's three head lines besides its nine producer values (labels, separators, the date token). */
const HEAD_OVERHEAD = 130;
const HEAD_PARTS = 9;
/** Room kept for the "…and N more changed" line. */
const MORE_LINE = 30;

export function buildEventsPage({ events, nextCursor, filters, limit, pageNumber }: EventsPageInput): EventsPage {
  const summary = describeFilters(filters);
  const scope = summary ? escapeMrkdwn(summary) : 'all events';
  const count = `${events.length} event${events.length === 1 ? '' : 's'}`;
  const header: types.ContextBlock = {
    type: 'context',
    elements: [
      mrkdwn(
        `:mag: *Audit trail* · ${truncate(scope, BUDGET.summary)} · page ${pageNumber} · ${count}, newest first`,
        BLOCK_KIT_LIMITS.contextText,
      ),
    ],
  };

  if (events.length === 0) {
    const none = pageNumber > 1 ? 'No more events match' : 'No events match';
    return {
      text: truncate(`${none} ${summary ? escapeMrkdwn(summary) : 'in the audit trail'}.`, BUDGET.fallback),
      blocks: [
        header,
        {
          type: 'section',
          text: mrkdwn(
            `${none} these filters. Widen them, e.g. an earlier \`since:\`, or try \`/audit help\`.`,
            BUDGET.section,
          ),
        },
      ],
    };
  }

  const blocks: types.KnownBlock[] = [header, ...eventSections(events)];
  const footer = footerBlock({ nextCursor, filters, limit, pageNumber });
  if (footer) blocks.push(footer);
  return {
    text: truncate(`Audit trail, page ${pageNumber}: ${count}${summary ? ` matching ${scope}` : ''}`, BUDGET.fallback),
    blocks,
  };
}

/**
 * The Next button's value: compact JSON, deflated when long; undefined when even that passes Slack's 2,000 characters.
 */
export function encodeNextPageValue(value: NextPageValue): string | undefined {
  const { filters: f } = value;
  const wire: WireValue = {
    c: value.cursor,
    f: withoutUndefined({
      t: f.types?.length ? [...f.types] : undefined,
      c: f.category,
      a: f.actor,
      at: f.actorType,
      rt: f.resourceType,
      ri: f.resourceId,
      s: f.since?.toISOString(),
      u: f.until?.toISOString(),
    }),
    l: value.limit,
    p: value.pageNumber,
  };
  const json = JSON.stringify(wire);
  if (json.length <= BLOCK_KIT_LIMITS.buttonValue) return json;
  // Long type lists repeat words ("Tracking Plan …"), so they deflate well; random text will not, and gets no button.
  const packed = `${PACKED}${deflateRawSync(json).toString('base64url')}`;
  return packed.length <= BLOCK_KIT_LIMITS.buttonValue ? packed : undefined;
}

/** The Next button's value read back and checked; undefined for anything this module did not make. */
export function decodeNextPageValue(text: string | undefined): NextPageValue | undefined {
  if (!text || text.length > BLOCK_KIT_LIMITS.buttonValue) return undefined;
  let json: string;
  try {
    json = text.startsWith(PACKED)
      ? inflateRawSync(Buffer.from(text.slice(PACKED.length), 'base64url'), { maxOutputLength: MAX_UNPACKED }).toString(
          'utf8',
        )
      : text;
  } catch {
    return undefined;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return undefined;
  }
  const wire = wireSchema.safeParse(raw);
  if (!wire.success) return undefined;
  const { c, f, l, p } = wire.data;
  const fields = filterFieldsSchema.safeParse(
    withoutUndefined({
      types: f.t,
      category: f.c,
      actor: f.a,
      actorType: f.at,
      resourceType: f.rt,
      resourceId: f.ri,
      since: f.s,
      until: f.u,
    }),
  );
  if (!fields.success) return undefined;
  return { cursor: c, filters: withoutUndefined(fields.data), limit: l, pageNumber: p };
}

const PACKED = 'z:';
/** Far above any value we pack, far below memory trouble: a crafted value cannot inflate into a bomb. */
const MAX_UNPACKED = 64 * 1024;

const wireSchema = z.strictObject({
  c: z.string().refine((cursor) => decodeCursor(cursor) !== undefined),
  f: z.strictObject({
    t: z.array(z.string()).optional(),
    c: z.string().optional(),
    a: z.string().optional(),
    at: z.string().optional(),
    rt: z.string().optional(),
    ri: z.string().optional(),
    // Absolute times only: a relative `7d` would drift from page to page.
    s: z.iso.datetime().optional(),
    u: z.iso.datetime().optional(),
  }),
  l: z.number().int().min(1).max(SLACK_PAGE_MAX),
  p: z.number().int().min(1),
});

type WireValue = z.infer<typeof wireSchema>;

/**
 * One section per event; past MAX_EVENT_SECTIONS events (limit:100) several share a section, so the page never passes
 * 50 blocks. Each event gets an equal share of the page's text budget. Also the body of other event listings (the
 * alerts a silence held back).
 */
export function eventSections(events: readonly StoredEvent[]): types.SectionBlock[] {
  const perSection = Math.ceil(events.length / MAX_EVENT_SECTIONS);
  const share = clamp(Math.floor(BUDGET.page / events.length), BUDGET.eventMin, BUDGET.eventMax);
  const budget = Math.min(share, Math.floor((BUDGET.section - 2 * (perSection - 1)) / perSection));
  const sections: types.SectionBlock[] = [];
  for (let i = 0; i < events.length; i += perSection) {
    const text = events
      .slice(i, i + perSection)
      .map((event) => eventText(event, budget))
      .join('\n\n');
    sections.push({ type: 'section', text: mrkdwn(text, BUDGET.section) });
  }
  return sections;
}

/** Type, time and id; actor; resource; then as many changed fields as the budget holds. */
function eventText(event: StoredEvent, budget: number): string {
  // The head lines take at most two thirds of the event's share, so long names still leave room for changes.
  const p = clamp(Math.floor(((budget * 2) / 3 - HEAD_OVERHEAD) / HEAD_PARTS), BUDGET.partMin, BUDGET.partMax);
  const { actor, resource } = event;
  const lines = [
    `*${part(event.type, 2 * p)}* · ${slackDate(event.timestamp)} · ${code(event.id, p)}`,
    `Actor: ${who(actor, p)} · ${code(actor.id, p)} · ${part(actor.type, p)}`,
    `Resource: ${part(resource.type, p)}${resource.name ? ` · ${part(resource.name, p)}` : ''}` +
      ` · ${code(resource.id, p)}`,
  ];
  let length = lines.join('\n').length;
  const changes = changeLines(event.changes);
  let kept = 0;
  for (const line of changes) {
    const last = kept === changes.length - 1;
    if (length + 1 + line.length > budget - (last ? 0 : MORE_LINE)) break;
    lines.push(line);
    length += 1 + line.length;
    kept += 1;
  }
  // fitLines drops this line again in the rare case that not even it fits.
  if (kept < changes.length) lines.push(`_…and ${changes.length - kept} more changed_`);
  return fitLines(lines, budget);
}

/** `• *field*: before → after` for each field of changes.before/after, or the whole object when it has neither. */
function changeLines(changes: JsonObject | null): string[] {
  if (!changes || Object.keys(changes).length === 0) return [];
  if (!('before' in changes) && !('after' in changes)) return [`• changes: ${json(changes, BUDGET.changeValue * 2)}`];
  const before = asObject(changes.before);
  const after = asObject(changes.after);
  const fieldByField = (changes.before === undefined || before) && (changes.after === undefined || after);
  if (!fieldByField) return [`• ${side(changes, 'before')} → ${side(changes, 'after')}`];
  const keys = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])];
  return keys.map((key) => `• *${part(key, BUDGET.changeKey)}*: ${side(before, key)} → ${side(after, key)}`);
}

function side(object: JsonObject | undefined, key: string): string {
  if (!object || !(key in object)) return '_(none)_';
  return json(object[key], BUDGET.changeValue);
}

function json(value: unknown, max: number): string {
  return code(JSON.stringify(value) ?? String(value), max);
}

function asObject(value: unknown): JsonObject | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as JsonObject) : undefined;
}

function who(actor: Actor, max: number): string {
  if (actor.name && actor.email) return `${part(actor.name, max)} (${part(actor.email, max)})`;
  return part(actor.name ?? actor.email ?? actor.id, max);
}

function footerBlock({
  nextCursor,
  filters,
  limit,
  pageNumber,
}: Omit<EventsPageInput, 'events'>): types.KnownBlock | undefined {
  if (!nextCursor)
    return { type: 'context', elements: [mrkdwn('No more events match.', BLOCK_KIT_LIMITS.contextText)] };
  const value = encodeNextPageValue({ cursor: nextCursor, filters, limit, pageNumber: pageNumber + 1 });
  if (!value) {
    return {
      type: 'context',
      elements: [
        mrkdwn(
          'More events match, but these filters are too long to page through here: ' +
            'narrow them, or use `/audit export` for every match.',
          BLOCK_KIT_LIMITS.contextText,
        ),
      ],
    };
  }
  return {
    type: 'actions',
    elements: [{ type: 'button', action_id: NEXT_PAGE_ACTION, text: { type: 'plain_text', text: 'Next' }, value }],
  };
}

/** Drops whole lines from the end until the text fits: cutting mid-line could split a date token or a code span. */
function fitLines(lines: readonly string[], max: number): string {
  const kept = [...lines];
  while (kept.length > 1 && kept.join('\n').length > max) kept.pop();
  return truncate(kept.join('\n'), max);
}

function clamp(n: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, n));
}
