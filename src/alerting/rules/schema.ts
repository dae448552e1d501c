/** The shape of one rule file (SPEC section 6) as a zod schema, and parseRule, which turns a file into a `Rule`. */
import path from 'node:path';
import { z } from 'zod';
import { ALL_CATEGORIES, catalogTypeFor, EVENT_TYPES } from '../../catalog.ts';
import { DURATION_HINT, tryParseDuration } from '../../duration.ts';
import { isRecord, withoutUndefined } from '../../json.ts';
import { ACTOR_FIELDS, fieldMatchers, RESOURCE_FIELDS } from './matchers.ts';
import { type Rule, type RuleIssue, SEVERITIES } from './types.ts';
import { describeIssue, ruleErrorMap, unknownName, wireNameNote, wrongType } from './wording.ts';

export const RULE_ID = /^[a-z0-9][a-z0-9-_]*$/;
const RULE_ID_HINT = 'must start with a lowercase letter or digit and use only a-z, 0-9, "-" and "_"';

/** Slack channel names are lowercase without spaces or `#`, IDs are upper-case alphanumerics. */
const CHANNEL = /^(#[^\s#<>@,A-Z]{1,80}|[CGD][A-Z0-9]{4,})$/;

/** Group-by paths: a field of the event that identifies "the same thing" across events. */
const GROUP_PATH = new RegExp(
  `^(type|category|actor\\.(${ACTOR_FIELDS.join('|')})|resource\\.(${RESOURCE_FIELDS.join('|')})` +
    `|(changes|context|metadata)(\\.[^.]+)+)$`,
);

/**
 * `type: X` or `type: [X, Y]`, every name one that `resolve` knows (by default, one of `allowed`); always a list of
 * resolved names once parsed.
 */
function nameList(
  what: string,
  allowed: readonly string[],
  resolve: (name: string) => string | undefined = (name) => (allowed.includes(name) ? name : undefined),
) {
  return z
    .union(
      [z.string(), z.array(z.string()).min(1, `must list at least one ${what}`)],
      wrongType(`must be ${/^[aeiou]/.test(what) ? 'an' : 'a'} ${what} or a list of them`),
    )
    .superRefine((value, ctx) => {
      const names = Array.isArray(value) ? value : [value];
      names.forEach((name, index) => {
        if (resolve(name) !== undefined) return;
        ctx.addIssue({
          code: 'custom',
          path: Array.isArray(value) ? [index] : [],
          message: unknownName(what, name, allowed),
        });
      });
    })
    .transform((value): readonly string[] => [
      ...new Set((Array.isArray(value) ? value : [value]).map((name) => resolve(name)!)),
    ]);
}

const duration = z.string(wrongType(`must be a duration: ${DURATION_HINT}`)).transform((text, ctx) => {
  const ms = tryParseDuration(text);
  if (ms !== undefined) return ms;
  ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(text)}: ${DURATION_HINT}` });
  return z.NEVER;
});

const groupBy = z
  .string(wrongType('must be a field path such as actor.id'))
  .regex(GROUP_PATH, 'must be a field path such as actor.id, resource.id, type or metadata.<field>');

const whenSchema = z.strictObject(
  {
    // Segment's wire names are read as the catalog type they stand for, which is what events are stored under.
    type: nameList('event type', EVENT_TYPES, catalogTypeFor).optional(),
    category: nameList('category', ALL_CATEGORIES).optional(),
    actor: fieldMatchers('actor', ACTOR_FIELDS).optional(),
    resource: fieldMatchers('resource', RESOURCE_FIELDS).optional(),
    changes: fieldMatchers('changes').optional(),
    context: fieldMatchers('context').optional(),
    metadata: fieldMatchers('metadata').optional(),
  },
  wrongType('must be a mapping of conditions, e.g. when: { type: [Warehouses Disabled] }'),
);

const thresholdSchema = z.strictObject(
  {
    count: z
      .number(wrongType('must be a whole number of at least 2'))
      .int('must be a whole number of at least 2')
      .min(2, 'must be a whole number of at least 2'),
    within: duration,
    by: groupBy.optional(),
  },
  wrongType('must be a mapping, e.g. { count: 5, within: 10m, by: actor.id }'),
);

const throttleSchema = z.strictObject(
  { within: duration, by: groupBy.optional() },
  wrongType('must be a mapping, e.g. { within: 15m, by: resource.id }'),
);

const groupSchema = z.strictObject(
  { within: duration, by: groupBy.optional() },
  wrongType('must be a mapping, e.g. { within: 5m, by: actor.id }'),
);

const CHANNEL_HINT = 'must be "#channel-name" or a channel ID like C0123ABCD';

/** One rule file as written. */
export const ruleFileSchema = z.strictObject(
  {
    id: z
      .string(wrongType('must be a string'))
      .max(100, 'must be at most 100 characters')
      .regex(RULE_ID, RULE_ID_HINT)
      .optional(),
    description: z.string(wrongType('must be a string')).optional(),
    enabled: z.boolean(wrongType('must be true or false')).default(true),
    when: whenSchema,
    threshold: thresholdSchema.optional(),
    throttle: throttleSchema.optional(),
    group: groupSchema.optional(),
    channel: z
      .string({
        error: (issue) =>
          issue.input === undefined
            ? undefined
            : // An unquoted `#data-alerts` is a YAML comment, which leaves the value empty.
              issue.input === null
              ? `is empty; quote the name, e.g. channel: "#data-alerts" (an unquoted # starts a YAML comment)`
              : CHANNEL_HINT,
      })
      .regex(CHANNEL, CHANNEL_HINT),
    mention: z.array(z.string().min(1, 'must not be empty'), wrongType('must be a list of strings')).default([]),
    severity: z.enum(SEVERITIES, wrongType(`must be one of ${SEVERITIES.join(', ')}`)).default('warning'),
    revert: z.boolean(wrongType('must be true or false')).default(false),
  },
  wrongType('a rule file must be a mapping of keys such as id, when and channel'),
);

export type RuleFile = z.output<typeof ruleFileSchema>;

const KNOWN_KEYS: Readonly<Record<string, readonly string[]>> = {
  '': Object.keys(ruleFileSchema.shape),
  when: Object.keys(whenSchema.shape),
  threshold: Object.keys(thresholdSchema.shape),
  throttle: Object.keys(throttleSchema.shape),
  group: Object.keys(groupSchema.shape),
};

/** A rule without an `id` is named after its file: `rules/warehouse-disabled.yml` → `warehouse-disabled`. */
export function defaultRuleId(file: string): string {
  return path.basename(file).replace(/\.ya?ml$/i, '');
}

/** A valid rule, with notes on names worth writing differently (a wire name where the catalog has its own). */
export type RuleParseResult = { ok: true; rule: Rule; notes: RuleIssue[] } | { ok: false; issues: RuleIssue[] };

/**
 * Validates one parsed YAML document and normalises it: lists for `type`/`category`, durations in
 * milliseconds, compiled matchers, and the id defaulting to the file name without its extension.
 */
export function parseRule(data: unknown, source: { file: string; line?: number }): RuleParseResult {
  const result = ruleFileSchema.safeParse(data, { error: ruleErrorMap });
  if (!result.success) {
    return { ok: false, issues: result.error.issues.flatMap((issue) => describeIssue(issue, KNOWN_KEYS)) };
  }
  const parsed = result.data;
  const id = parsed.id ?? defaultRuleId(source.file);
  if (!RULE_ID.test(id)) {
    return {
      ok: false,
      issues: [
        {
          path: [],
          message:
            `the rule id defaults to the file name ${JSON.stringify(id)}, which is not a valid id: ` +
            `add an id or rename the file (an id ${RULE_ID_HINT})`,
        },
      ],
    };
  }
  const rule: Rule = {
    id,
    description: parsed.description ?? id,
    enabled: parsed.enabled,
    when: withoutUndefined(parsed.when),
    channel: parsed.channel,
    mention: parsed.mention,
    severity: parsed.severity,
    revert: parsed.revert,
    file: source.file,
  };
  const { threshold, throttle, group } = parsed;
  if (threshold) {
    rule.threshold = {
      count: threshold.count,
      withinMs: threshold.within,
      ...(threshold.by === undefined ? {} : { by: threshold.by }),
    };
  }
  if (throttle)
    rule.throttle = { withinMs: throttle.within, ...(throttle.by === undefined ? {} : { by: throttle.by }) };
  if (group) rule.group = { withinMs: group.within, ...(group.by === undefined ? {} : { by: group.by }) };
  if (source.line !== undefined) rule.line = source.line;
  return { ok: true, rule, notes: wireNameNotes(data) };
}

/** `type:` names that were read as another catalog type: accepted, with the catalog name suggested. */
function wireNameNotes(data: unknown): RuleIssue[] {
  const when = isRecord(data) ? data.when : undefined;
  const written = isRecord(when) ? when.type : undefined;
  const names = Array.isArray(written) ? written : [written];
  return names.flatMap((name, index) => {
    const type = typeof name === 'string' ? catalogTypeFor(name) : undefined;
    if (type === undefined || type === name) return [];
    const at = Array.isArray(written) ? ['when', 'type', index] : ['when', 'type'];
    return [{ path: at, message: wireNameNote(name as string, type) }];
  });
}
