/** Reads the text of the `/audit` slash command (SPEC section 5) into a subcommand with validated filters. */
import { ALL_CATEGORIES, EVENT_TYPES } from '../catalog.ts';
import { nearestName } from '../did-you-mean.ts';
import { ACTOR_TYPES, type ActorType } from '../events.ts';
import { writeKeyProblem } from '../forwarding/settings.ts';
import { checkRange, filterFieldsSchema, parseTimeSpec, TIME_HINT } from '../filters.ts';
import { withoutUndefined } from '../json.ts';
import type { EventFilters } from '../store/queries.ts';
import { truncate } from './mrkdwn.ts';

/** Events per Slack page: a page is one ephemeral message, and 50 blocks hold at most this many readably. */
export const SLACK_PAGE_DEFAULT = 20;
export const SLACK_PAGE_MAX = 100;

export const FILTER_KEYS = ['type', 'category', 'actor', 'actor-type', 'resource', 'resource-type', 'since', 'until', 'limit'] as const;
export type FilterKey = (typeof FILTER_KEYS)[number];

/** What each filter key means, with an example: shared by the help message and nothing else should restate it. */
export const FILTER_SYNTAX: readonly { key: FilterKey; example: string; meaning: string }[] = [
  { key: 'type', example: 'type:"Warehouses Disabled"', meaning: 'event type; repeat it to match any of several' },
  { key: 'category', example: 'category:Warehouses', meaning: `one of ${ALL_CATEGORIES.join(', ')}` },
  { key: 'actor', example: 'actor:jane@acme.com', meaning: 'who did it: an actor id or email' },
  { key: 'actor-type', example: 'actor-type:token', meaning: ACTOR_TYPES.join(', ') },
  { key: 'resource', example: 'resource:wh_1', meaning: 'the id of the thing changed' },
  { key: 'resource-type', example: 'resource-type:warehouse', meaning: 'the kind of thing changed' },
  { key: 'since', example: 'since:7d', meaning: 'from this time on (an ISO date or time, or 30m, 12h, 7d ago)' },
  { key: 'until', example: 'until:2026-11-01', meaning: 'before this time' },
  { key: 'limit', example: 'limit:20', meaning: `events per page, 1 to ${SLACK_PAGE_MAX} (default ${SLACK_PAGE_DEFAULT})` },
];

/** The forms of `/audit forward`, as the help and the forwarding status show them. */
export const FORWARD_SYNTAX = {
  status: '/audit forward status',
  on: '/audit forward on <writeKey> [name]',
  backfill: '/audit forward on <writeKey> [name] --since 7d',
  off: '/audit forward off',
} as const;

/** The same forms on one line, quoted by every answer to a malformed `/audit forward`. */
export const FORWARD_USAGE = '/audit forward status | on <writeKey> [name] [--since 7d] | off';

export type AuditCommand = HelpCommand | QueryCommand | ExportCommand | ForwardCommand | CommandError;

export interface HelpCommand {
  kind: 'help';
}

export interface QueryCommand {
  kind: 'query';
  filters: EventFilters;
  /** Events per page, 1 to SLACK_PAGE_MAX. */
  limit: number;
}

export interface ExportCommand {
  kind: 'export';
  filters: EventFilters;
}

export type ForwardCommand =
  | { kind: 'forward'; action: 'status' }
  | { kind: 'forward'; action: 'off' }
  | {
      kind: 'forward';
      action: 'on';
      writeKey: string;
      /** A label for the destination, from the words after the write key. */
      name?: string;
      /** Also send events stored since this time (`--since 7d`). */
      since?: Date;
    };

/** A refusal to show the user. Plain text that quotes what they typed: escape it with escapeMrkdwn when rendering. */
export interface CommandError {
  kind: 'error';
  message: string;
}

const FILTER_LIST = FILTER_KEYS.map((key) => `${key}:`).join(', ');
const FILTER_EXAMPLE = 'type:"Warehouses Disabled"';
const MAX_NAME = 200;
/** How much of a token an error message quotes: enough to recognise it, not a wall of text. */
const QUOTED_TOKEN = 100;

/** Parses the text after `/audit`. Never throws: anything wrong comes back as `{ kind: 'error' }` naming the token. */
export function parseCommandText(text: string): AuditCommand {
  const tokens = tokenize(normaliseSlackText(text));
  if ('error' in tokens) return fail(tokens.error);
  const [first, ...rest] = tokens;
  if (!first) return { kind: 'help' };
  const subcommand = first.key === undefined && !first.quoted ? first.value.toLowerCase() : undefined;
  if (subcommand === 'help') return { kind: 'help' };
  if (subcommand === 'export') {
    const parsed = parseFilters(rest, 'export');
    return 'message' in parsed ? parsed : { kind: 'export', filters: parsed.filters };
  }
  if (subcommand === 'forward') return parseForward(rest);
  const parsed = parseFilters(tokens, 'query');
  return 'message' in parsed ? parsed : { kind: 'query', filters: parsed.filters, limit: parsed.limit };
}

/**
 * A one-line summary of filters, e.g. `type: Warehouses Disabled, actor: jane@acme.com, since 2026-11-18`; empty when
 * there are none. Plain text with the producer's and user's words in it: escape it when rendering.
 */
export function describeFilters(filters: EventFilters): string {
  const parts: string[] = [];
  if (filters.types?.length) parts.push(`type: ${filters.types.join(' or ')}`);
  if (filters.category) parts.push(`category: ${filters.category}`);
  if (filters.actor) parts.push(`actor: ${filters.actor}`);
  if (filters.actorType) parts.push(`actor type: ${filters.actorType}`);
  if (filters.resourceType) parts.push(`resource type: ${filters.resourceType}`);
  if (filters.resourceId) parts.push(`resource: ${filters.resourceId}`);
  if (filters.since) parts.push(`since ${describeTime(filters.since)}`);
  if (filters.until) parts.push(`until ${describeTime(filters.until)}`);
  return parts.join(', ');
}

/** A date alone at midnight UTC (what `since:2026-11-18` means), otherwise the minute in UTC. */
function describeTime(date: Date): string {
  const iso = date.toISOString();
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

// ---------------------------------------------------------------------------------------------------------------
// Tokens

interface Token {
  /** The token as it arrived, quotes and all. */
  raw: string;
  /** The text before the first `:`, as typed; undefined for a bare word. */
  key?: string;
  /** The value, unquoted and unescaped. */
  value: string;
  quoted: boolean;
}

const DOUBLE_QUOTES = '"“”„‟';
const SINGLE_QUOTES = '\'‘’‚‛';
const SPACE = /\s/;

/**
 * Slack escapes `&`, `<` and `>` in command text, and may wrap an email or URL as `<mailto:a@b|a@b>`; undone here so
 * filters see what the user typed.
 */
function normaliseSlackText(text: string): string {
  return text
    .replace(/<mailto:([^|>]+)(?:\|[^>]*)?>/g, '$1')
    .replace(/<((?:https?):[^|>]+)(?:\|[^>]*)?>/g, '$1')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .trim();
}

function quoteFamily(char: string): string | undefined {
  if (DOUBLE_QUOTES.includes(char)) return DOUBLE_QUOTES;
  if (SINGLE_QUOTES.includes(char)) return SINGLE_QUOTES;
  return undefined;
}

/**
 * Splits on whitespace; a value may be quoted. A quote opens only where a value starts (the token's start or just
 * after `key:`) and closes only before whitespace or the end, so an apostrophe inside a word (`o’brien`, which
 * phones type for `'`) stays a letter, and any quote of the same kind closes (phones mix “ and ”).
 */
function tokenize(text: string): Token[] | { error: string } {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    if (SPACE.test(text[i]!)) {
      i += 1;
      continue;
    }
    const start = i;
    let key: string | undefined;
    let value = '';
    let quoted = false;
    let atValueStart = true;
    while (i < text.length && !SPACE.test(text[i]!)) {
      const char = text[i]!;
      const family = atValueStart ? quoteFamily(char) : undefined;
      if (family) {
        const closed = readQuoted(text, i + 1, family);
        if (!closed) return { error: `unterminated quote in: ${truncate(text.slice(start), QUOTED_TOKEN)}` };
        value += closed.value;
        i = closed.end;
        quoted = true;
        break;
      }
      atValueStart = false;
      if (char === ':' && key === undefined) {
        key = value;
        value = '';
        atValueStart = true;
      } else {
        value += char;
      }
      i += 1;
    }
    tokens.push({ raw: text.slice(start, i), key, value, quoted });
  }
  return tokens;
}

/** The quoted text from `start` to its closing quote, with `\"` and `\\` unescaped; undefined when never closed. */
function readQuoted(text: string, start: number, family: string): { value: string; end: number } | undefined {
  let value = '';
  for (let i = start; i < text.length; i += 1) {
    const char = text[i]!;
    const next = text[i + 1];
    if (char === '\\' && next !== undefined && (family.includes(next) || next === '\\')) {
      value += next;
      i += 1;
    } else if (family.includes(char) && (next === undefined || SPACE.test(next))) {
      return { value, end: i + 1 };
    } else {
      value += char;
    }
  }
  return undefined;
}

/** The token's text without quotes: `since:last week` for `since:"last week"`. */
function textOf(token: Token): string {
  return token.key === undefined ? token.value : `${token.key}:${token.value}`;
}

/** The token as the user wrote it, quoted for a message: `"since:last week"`. */
function show(token: Token): string {
  return `"${truncate(textOf(token), QUOTED_TOKEN)}"`;
}

function fail(message: string): CommandError {
  return { kind: 'error', message };
}

// ---------------------------------------------------------------------------------------------------------------
// Filters

type FieldInput = {
  types?: string[];
  category?: string;
  actor?: string;
  actorType?: string;
  resourceType?: string;
  resourceId?: string;
  since?: string;
  until?: string;
};

const FIELD_OF_KEY = {
  type: 'types',
  category: 'category',
  actor: 'actor',
  'actor-type': 'actorType',
  resource: 'resourceId',
  'resource-type': 'resourceType',
  since: 'since',
  until: 'until',
} as const satisfies Record<Exclude<FilterKey, 'limit'>, keyof FieldInput>;

const canonicalType = new Map(EVENT_TYPES.map((type) => [type.toLowerCase(), type]));
const canonicalCategory = new Map(ALL_CATEGORIES.map((category) => [category.toLowerCase(), category]));

function isFilterKey(key: string): key is FilterKey {
  return (FILTER_KEYS as readonly string[]).includes(key);
}

function parseFilters(tokens: readonly Token[], mode: 'query' | 'export'): { filters: EventFilters; limit: number } | CommandError {
  const input: FieldInput = {};
  const seen = new Map<FilterKey, Token>();
  /** Which token gave each field (and each type, by index), so a schema issue can name it. */
  const tokenOf = new Map<string, Token>();
  let limit = SLACK_PAGE_DEFAULT;

  for (const [index, token] of tokens.entries()) {
    if (token.key === undefined) return fail(bareWordMessage(token, tokens[index - 1]));
    const key = token.key.toLowerCase();
    if (!isFilterKey(key)) return fail(unknownFilterMessage(token));
    const value = token.value.trim();
    if (!value) return fail(`${show(token)} has no value: write ${key}:value, e.g. ${exampleOf(key)}`);
    const earlier = seen.get(key);
    if (earlier && key !== 'type') {
      return fail(`${key}: is given twice (${show(earlier)} and ${show(token)}); only type: may repeat`);
    }
    seen.set(key, token);

    switch (key) {
      case 'type':
        input.types = [...(input.types ?? []), canonicalType.get(value.toLowerCase()) ?? value];
        tokenOf.set(`types.${input.types.length - 1}`, token);
        break;
      case 'category': {
        const category = canonicalCategory.get(value.toLowerCase());
        if (!category) {
          const nearest = nearestName(value, ALL_CATEGORIES);
          const hint = nearest ? `did you mean ${nearest}? Categories are` : 'categories are';
          return fail(`unknown category ${show(token)} — ${hint} ${ALL_CATEGORIES.join(', ')}`);
        }
        input.category = category;
        break;
      }
      case 'actor-type': {
        const actorType = value.toLowerCase();
        if (!(ACTOR_TYPES as readonly string[]).includes(actorType)) {
          return fail(`unknown actor type ${show(token)} — use ${ACTOR_TYPES.slice(0, -1).join(', ')} or ${ACTOR_TYPES.at(-1)!}`);
        }
        input.actorType = actorType as ActorType;
        break;
      }
      case 'since':
      case 'until':
        if (!parseTimeSpec(value)) return fail(`${show(token)} is not a time: use ${TIME_HINT}`);
        input[key] = value;
        break;
      case 'limit': {
        if (mode === 'export') return fail(`${show(token)} does not apply to export: it sends every match`);
        const n = /^\d{1,3}$/.test(value) ? Number(value) : NaN;
        if (!(n >= 1 && n <= SLACK_PAGE_MAX)) {
          return fail(`limit must be a whole number from 1 to ${SLACK_PAGE_MAX} (got ${JSON.stringify(truncate(value, QUOTED_TOKEN))})`);
        }
        limit = n;
        break;
      }
      default:
        input[FIELD_OF_KEY[key]] = value;
    }
    if (key !== 'type' && key !== 'limit') tokenOf.set(FIELD_OF_KEY[key], token);
  }

  // The shared schema owns the rules every client obeys (lengths, how many types) and turns times into Dates.
  const parsed = filterFieldsSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const path = issue.path.join('.');
    const token = tokenOf.get(path);
    if (!token) return fail(path === 'types' ? `too many type: filters: ${issue.message}` : issue.message);
    const tooLong = issue.code === 'too_big' && 'maximum' in issue ? `is too long (at most ${String(issue.maximum)} characters)` : undefined;
    return fail(`${show(token)} ${tooLong ?? issue.message}`);
  }
  const filters = withoutUndefined(parsed.data);
  const rangeProblem = checkRange(filters);
  if (rangeProblem) return fail(rangeProblem);
  return { filters, limit };
}

function exampleOf(key: FilterKey): string {
  return FILTER_SYNTAX.find((entry) => entry.key === key)?.example ?? FILTER_EXAMPLE;
}

function unknownFilterMessage(token: Token): string {
  const nearest = nearestName(token.key!, FILTER_KEYS);
  const list = nearest ? `did you mean ${nearest}:? Filters are ${FILTER_LIST}` : `filters are ${FILTER_LIST}`;
  return `unknown filter ${show(token)} — ${list}`;
}

/** `type:Warehouses Disabled` splits into two tokens; the second then reads best as a hint to quote the first. */
function bareWordMessage(token: Token, previous: Token | undefined): string {
  const word = show(token);
  if (previous?.key !== undefined && !previous.quoted && isFilterKey(previous.key.toLowerCase())) {
    return `${word} is not a filter: quote a value with spaces, e.g. ${previous.key}:"${previous.value} ${token.value}"`;
  }
  const subcommand = token.quoted ? undefined : nearestName(token.value, ['help', 'export', 'forward']);
  const hint = subcommand ? ` (or did you mean /audit ${subcommand}?)` : '';
  return `${word} is not a filter: write key:value, e.g. ${FILTER_EXAMPLE}${hint}`;
}

// ---------------------------------------------------------------------------------------------------------------
// forward

/** Phones turn `--` into an en or em dash. */
const OPTION = /^(?:--|—|–)([a-z-]+)(?:=(.*))?$/i;

function parseForward(tokens: readonly Token[]): AuditCommand {
  const [actionToken, ...args] = tokens;
  const action = actionToken?.key === undefined ? actionToken?.value.toLowerCase() : undefined;
  if (!actionToken || (action !== 'status' && action !== 'on' && action !== 'off')) {
    const got = actionToken ? ` (got ${show(actionToken)})` : '';
    return fail(`forward needs status, on or off${got}: ${FORWARD_USAGE}`);
  }
  if (action !== 'on') {
    if (args[0]) return fail(`forward ${action} takes nothing more (got ${show(args[0])}): ${FORWARD_USAGE}`);
    return { kind: 'forward', action };
  }

  let writeKey: string | undefined;
  const nameWords: string[] = [];
  let since: Date | undefined;
  for (let i = 0; i < args.length; i += 1) {
    const token = args[i]!;
    const text = textOf(token);
    const option = token.quoted ? null : OPTION.exec(token.raw);
    if (option) {
      if (option[1]!.toLowerCase() !== 'since') return fail(`unknown option ${show(token)} — forward on takes --since, e.g. --since 7d`);
      const valueToken = option[2] === undefined ? args[(i += 1)] : undefined;
      const value = option[2] ?? (valueToken && textOf(valueToken));
      if (!value) return fail(`--since needs a time, e.g. --since 7d`);
      since = parseTimeSpec(value.trim());
      if (!since) return fail(`${JSON.stringify(`--since ${truncate(value, QUOTED_TOKEN)}`)} is not a time: use ${TIME_HINT}`);
    } else if (writeKey === undefined) {
      // The rules turnForwardingOn enforces; the message never quotes the key, which may be a real one mistyped.
      const problem = writeKeyProblem(text);
      if (problem) return fail(`${problem}: ${FORWARD_USAGE}`);
      writeKey = text;
    } else {
      nameWords.push(text);
    }
  }
  if (writeKey === undefined) return fail(`forward on needs the Segment source's write key: ${FORWARD_USAGE}`);
  const name = nameWords.join(' ').trim();
  if (name.length > MAX_NAME) return fail(`the forwarding name is too long (at most ${MAX_NAME} characters)`);
  return { kind: 'forward', action: 'on', writeKey, ...(name ? { name } : {}), ...(since ? { since } : {}) };
}
