/** The filters of `/audit` and `/audit export` (`type:"Warehouses Disabled" since:7d`), checked as the API does. */
import { ALL_CATEGORIES, EVENT_TYPES } from '../../catalog.ts';
import { nearestName } from '../../did-you-mean.ts';
import { ACTOR_TYPES, type ActorType } from '../../events.ts';
import { checkRange, filterFieldsSchema, parseTimeSpec, TIME_HINT } from '../../filters.ts';
import { withoutUndefined } from '../../json.ts';
import type { EventFilters } from '../../store/queries.ts';
import { truncate } from '../mrkdwn.ts';
import { QUOTED_TOKEN, show, type Token } from './tokens.ts';
import { type CommandError, fail } from './types.ts';

/** Events per Slack page: a page is one ephemeral message, and 50 blocks hold at most this many readably. */
export const SLACK_PAGE_DEFAULT = 20;
export const SLACK_PAGE_MAX = 100;

export const FILTER_KEYS = [
  'type',
  'category',
  'actor',
  'actor-type',
  'resource',
  'resource-type',
  'since',
  'until',
  'limit',
] as const;
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
  {
    key: 'limit',
    example: 'limit:20',
    meaning: `events per page, 1 to ${SLACK_PAGE_MAX} (default ${SLACK_PAGE_DEFAULT})`,
  },
];

const FILTER_LIST = FILTER_KEYS.map((key) => `${key}:`).join(', ');
const FILTER_EXAMPLE = 'type:"Warehouses Disabled"';

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

export function parseFilters(
  tokens: readonly Token[],
  mode: 'query' | 'export',
): { filters: EventFilters; limit: number } | CommandError {
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
          return fail(
            `unknown actor type ${show(token)} — use ${ACTOR_TYPES.slice(0, -1).join(', ')} or ${ACTOR_TYPES.at(-1)!}`,
          );
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
          return fail(
            `limit must be a whole number from 1 to ${SLACK_PAGE_MAX} ` +
              `(got ${JSON.stringify(truncate(value, QUOTED_TOKEN))})`,
          );
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
    const tooLong =
      issue.code === 'too_big' && 'maximum' in issue
        ? `is too long (at most ${String(issue.maximum)} characters)`
        : undefined;
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
    const quoted = `${previous.key}:"${previous.value} ${token.value}"`;
    return `${word} is not a filter: quote a value with spaces, e.g. ${quoted}`;
  }
  const subcommands = ['help', 'export', 'forward', 'silence', 'silences', 'unsilence', 'import'];
  const subcommand = token.quoted ? undefined : nearestName(token.value, subcommands);
  const hint = subcommand ? ` (or did you mean /audit ${subcommand}?)` : '';
  return `${word} is not a filter: write key:value, e.g. ${FILTER_EXAMPLE}${hint}`;
}
