/** The shape of one rule file (SPEC section 6): a zod schema, and its normalised form, `Rule`. */
import path from 'node:path';
import { z } from 'zod';
import { ALL_CATEGORIES, EVENT_TYPES } from '../catalog.ts';
import { nearestName } from '../did-you-mean.ts';
import { DURATION_HINT, tryParseDuration } from '../duration.ts';
import { ACTOR_TYPES } from '../events.ts';
import { withoutUndefined } from '../json.ts';

export const SEVERITIES = ['critical', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

export type Scalar = string | number | boolean;

/** What a field matcher asks of one value; `regex` and `glob` are compiled once, here. */
export type ValueTest =
  | { kind: 'equals'; values: readonly Scalar[] }
  | { kind: 'not'; values: readonly Scalar[] }
  | { kind: 'glob'; pattern: string; regex: RegExp }
  | { kind: 'regex'; pattern: string; regex: RegExp }
  | { kind: 'exists'; exists: boolean };

/** One condition on a field of actor/resource/changes/context/metadata, e.g. `before.enabled`. */
export interface FieldMatcher {
  /** The field as written in the rule, dotted. */
  field: string;
  path: readonly string[];
  test: ValueTest;
}

export const MATCHED_OBJECTS = ['actor', 'resource', 'changes', 'context', 'metadata'] as const;
export type MatchedObject = (typeof MATCHED_OBJECTS)[number];

export interface RuleWhen {
  type?: readonly string[];
  category?: readonly string[];
  actor?: readonly FieldMatcher[];
  resource?: readonly FieldMatcher[];
  changes?: readonly FieldMatcher[];
  context?: readonly FieldMatcher[];
  metadata?: readonly FieldMatcher[];
}

export interface Rule {
  id: string;
  description: string;
  enabled: boolean;
  when: RuleWhen;
  /** Fire once when `count` matches of one group fall within `withinMs`. */
  threshold?: { count: number; withinMs: number; by?: string };
  /** After an alert, suppress further alerts of the same group for `withinMs`. */
  throttle?: { withinMs: number; by?: string };
  channel: string;
  /** Trusted text from the rule author, posted as is. */
  mention: readonly string[];
  severity: Severity;
  revert: boolean;
  /** The file the rule came from, as the rules directory was given. */
  file: string;
  line?: number;
}

/** A problem with a rule file, located by its path in the YAML document. */
export interface RuleIssue {
  path: readonly (string | number)[];
  message: string;
}

export const RULE_ID = /^[a-z0-9][a-z0-9-_]*$/;
const RULE_ID_HINT = 'must start with a lowercase letter or digit and use only a-z, 0-9, "-" and "_"';

/** Slack channel names are lowercase without spaces or `#`, IDs are upper-case alphanumerics. */
const CHANNEL = /^(#[^\s#<>@,A-Z]{1,80}|[CGD][A-Z0-9]{4,})$/;

const ACTOR_FIELDS = ['type', 'id', 'name', 'email'] as const;
const RESOURCE_FIELDS = ['type', 'id', 'name'] as const;

/** Group-by paths: a field of the event that identifies "the same thing" across events. */
const GROUP_PATH = new RegExp(
  `^(type|category|actor\\.(${ACTOR_FIELDS.join('|')})|resource\\.(${RESOURCE_FIELDS.join('|')})|(changes|context|metadata)(\\.[^.]+)+)$`,
);

const FIELD_PATH = /^[^.]+(\.[^.]+)*$/;

/** Stands for "this field is missing" until the issue is turned into a message naming the field. */
const REQUIRED = '\u0000required';

function listOf(names: readonly string[]): string {
  return names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} or ${names.at(-1)!}`;
}

/** `unknown event type "X", did you mean "Y"?`; with `listAll`, names the choices when none is close. */
function unknownName(what: string, name: string, candidates: readonly string[], listAll = false): string {
  const nearest = nearestName(name, candidates);
  if (nearest !== undefined) return `unknown ${what} ${JSON.stringify(name)}, did you mean ${JSON.stringify(nearest)}?`;
  return `unknown ${what} ${JSON.stringify(name)}${listAll ? ` (expected ${listOf(candidates)})` : ''}`;
}

function unknownKey(key: string, candidates: readonly string[]): string {
  const nearest = nearestName(key, candidates);
  return `unknown key ${JSON.stringify(key)}${nearest === undefined ? '' : ` (did you mean ${JSON.stringify(nearest)}?)`}`;
}

/** A schema-level message for a wrong type that still lets a missing field read as "missing". */
function wrongType(message: string) {
  return { error: (issue: z.core.$ZodRawIssue) => (issue.input === undefined ? undefined : message) };
}

/** `type: X` or `type: [X, Y]`, every name from `allowed`; always a list once parsed. */
function nameList(what: string, allowed: readonly string[]) {
  return z
    .union([z.string(), z.array(z.string()).min(1, `must list at least one ${what}`)], wrongType(`must be ${/^[aeiou]/.test(what) ? 'an' : 'a'} ${what} or a list of them`))
    .superRefine((value, ctx) => {
      const names = Array.isArray(value) ? value : [value];
      names.forEach((name, index) => {
        if (allowed.includes(name)) return;
        ctx.addIssue({
          code: 'custom',
          path: Array.isArray(value) ? [index] : [],
          message: unknownName(what, name, allowed),
        });
      });
    })
    .transform((value): readonly string[] => (Array.isArray(value) ? value : [value]));
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

type IssueSink = { addIssue(issue: { code: 'custom'; message: string; path: (string | number)[] }): void };

function isScalar(value: unknown): value is Scalar {
  return typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}

const MATCHER_KINDS = ['not', 'glob', 'regex', 'exists'] as const;
const MATCHER_HINT = 'a value, a list of values, or one of {not: …}, {glob: …}, {regex: …}, {exists: …}';

/** `a` or `[a, b]` as a list of scalars; reports what is wrong and returns undefined otherwise. */
function scalarList(value: unknown, at: (string | number)[], sink: IssueSink): Scalar[] | undefined {
  if (isScalar(value)) return [value];
  if (!Array.isArray(value)) {
    sink.addIssue({ code: 'custom', path: at, message: `must be a value or a list of values` });
    return undefined;
  }
  if (value.length === 0) {
    sink.addIssue({ code: 'custom', path: at, message: 'must list at least one value' });
    return undefined;
  }
  let ok = true;
  value.forEach((item, index) => {
    if (isScalar(item)) return;
    ok = false;
    sink.addIssue({ code: 'custom', path: [...at, index], message: 'must be a string, a number or true/false' });
  });
  return ok ? (value as Scalar[]) : undefined;
}

function compileRegex(pattern: string, at: (string | number)[], sink: IssueSink): RegExp | undefined {
  try {
    return new RegExp(pattern);
  } catch (error) {
    // V8 says "Invalid regular expression: /(/: Unterminated group"; the reason is the last part.
    const reason = (error as Error).message.split(': ').at(-1);
    sink.addIssue({ code: 'custom', path: at, message: `invalid regex ${JSON.stringify(pattern)}: ${reason}` });
    return undefined;
  }
}

/** `*` is any run of characters, `?` one character, everything else is literal; the whole value must match. */
export function globToRegExp(glob: string): RegExp {
  let source = '';
  for (const char of glob) {
    if (char === '*') source += '.*';
    else if (char === '?') source += '.';
    else source += char.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${source}$`, 'su');
}

function parseValueTest(value: unknown, at: (string | number)[], sink: IssueSink): ValueTest | undefined {
  if (value === null || value === undefined) {
    sink.addIssue({ code: 'custom', path: at, message: 'has no value; use {exists: false} to match a missing field' });
    return undefined;
  }
  if (isScalar(value) || Array.isArray(value)) {
    const values = scalarList(value, at, sink);
    return values && { kind: 'equals', values };
  }
  if (typeof value !== 'object') {
    sink.addIssue({ code: 'custom', path: at, message: `must be ${MATCHER_HINT}` });
    return undefined;
  }
  const entries = Object.entries(value);
  const unknown = entries.filter(([key]) => !(MATCHER_KINDS as readonly string[]).includes(key));
  for (const [key] of unknown) {
    sink.addIssue({ code: 'custom', path: [...at, key], message: unknownName('matcher', key, MATCHER_KINDS, true) });
  }
  if (unknown.length > 0) return undefined;
  if (entries.length !== 1) {
    sink.addIssue({ code: 'custom', path: at, message: 'must have exactly one of not, glob, regex or exists' });
    return undefined;
  }
  const [kind, operand] = entries[0]!;
  const operandAt = [...at, kind];
  switch (kind as (typeof MATCHER_KINDS)[number]) {
    case 'not': {
      const values = scalarList(operand, operandAt, sink);
      return values && { kind: 'not', values };
    }
    case 'glob': {
      if (typeof operand !== 'string') break;
      return { kind: 'glob', pattern: operand, regex: globToRegExp(operand) };
    }
    case 'regex': {
      if (typeof operand !== 'string') break;
      const regex = compileRegex(operand, operandAt, sink);
      return regex && { kind: 'regex', pattern: operand, regex };
    }
    case 'exists': {
      if (typeof operand !== 'boolean') {
        sink.addIssue({ code: 'custom', path: operandAt, message: 'must be true or false' });
        return undefined;
      }
      return { kind: 'exists', exists: operand };
    }
  }
  sink.addIssue({ code: 'custom', path: operandAt, message: 'must be a string' });
  return undefined;
}

/**
 * A map from field name to matcher. `fields` limits the names for actor and resource, whose shape is
 * fixed, so a typo such as `emial` is an error rather than a rule that silently never matches.
 */
function fieldMatchers(object: MatchedObject, fields?: readonly string[]) {
  return z.unknown().transform((value, ctx): readonly FieldMatcher[] => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      ctx.addIssue({ code: 'custom', message: `must be a mapping of field names to matchers, e.g. ${object}: { id: x }` });
      return z.NEVER;
    }
    const matchers: FieldMatcher[] = [];
    let ok = true;
    for (const [field, raw] of Object.entries(value)) {
      if (fields && !fields.includes(field)) {
        ok = false;
        ctx.addIssue({ code: 'custom', path: [field], message: unknownName(`${object} field`, field, fields, true) });
        continue;
      }
      if (!FIELD_PATH.test(field)) {
        ok = false;
        ctx.addIssue({ code: 'custom', path: [field], message: `field name ${JSON.stringify(field)} must be a dotted path such as before.enabled` });
        continue;
      }
      const test = parseValueTest(raw, [field], ctx);
      if (!test) {
        ok = false;
        continue;
      }
      if (object === 'actor' && field === 'type' && !checkActorTypes(test, raw, ctx)) {
        ok = false;
        continue;
      }
      matchers.push({ field, path: field.split('.'), test });
    }
    return ok ? matchers : z.NEVER;
  });
}

/** `actor.type` can only ever be user, token or system; any other value is a typo. */
function checkActorTypes(test: ValueTest, raw: unknown, sink: IssueSink): boolean {
  if (test.kind !== 'equals' && test.kind !== 'not') return true;
  let ok = true;
  const base: (string | number)[] = test.kind === 'not' ? ['type', 'not'] : ['type'];
  const listed = test.kind === 'not' ? (raw as { not: unknown }).not : raw;
  test.values.forEach((value, index) => {
    if ((ACTOR_TYPES as readonly unknown[]).includes(value)) return;
    ok = false;
    const at = Array.isArray(listed) ? [...base, index] : base;
    sink.addIssue({ code: 'custom', path: at, message: unknownName('actor type', String(value), ACTOR_TYPES, true) });
  });
  return ok;
}

const whenSchema = z.strictObject(
  {
    type: nameList('event type', EVENT_TYPES).optional(),
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
    count: z.number(wrongType('must be a whole number of at least 2')).int('must be a whole number of at least 2').min(2, 'must be a whole number of at least 2'),
    within: duration,
    by: groupBy.optional(),
  },
  wrongType('must be a mapping, e.g. { count: 5, within: 10m, by: actor.id }'),
);

const throttleSchema = z.strictObject(
  { within: duration, by: groupBy.optional() },
  wrongType('must be a mapping, e.g. { within: 15m, by: resource.id }'),
);

const CHANNEL_HINT = 'must be "#channel-name" or a channel ID like C0123ABCD';

/** One rule file as written. */
export const ruleFileSchema = z.strictObject(
  {
    id: z.string(wrongType('must be a string')).max(100, 'must be at most 100 characters').regex(RULE_ID, RULE_ID_HINT).optional(),
    description: z.string(wrongType('must be a string')).optional(),
    enabled: z.boolean(wrongType('must be true or false')).default(true),
    when: whenSchema,
    threshold: thresholdSchema.optional(),
    throttle: throttleSchema.optional(),
    channel: z
      .string({
        error: (issue) =>
          issue.input === undefined ? undefined
          // An unquoted `#data-alerts` is a YAML comment, which leaves the value empty.
          : issue.input === null ? `is empty; quote the name, e.g. channel: "#data-alerts" (an unquoted # starts a YAML comment)`
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
};

/** Messages for the issues that no schema above words itself. */
const ruleErrorMap: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'invalid_type') return issue.input === undefined ? REQUIRED : `must be ${describeType(issue.expected)}`;
  return undefined;
};

function describeType(expected: string): string {
  switch (expected) {
    case 'array': return 'a list';
    case 'object': return 'a mapping';
    case 'boolean': return 'true or false';
    case 'int': return 'a whole number';
    default: return `a ${expected}`;
  }
}

export function formatPath(at: readonly PropertyKey[]): string {
  return at.reduce<string>((text, segment) => {
    if (typeof segment === 'number') return `${text}[${segment}]`;
    return text === '' ? String(segment) : `${text}.${String(segment)}`;
  }, '');
}

function located(at: readonly PropertyKey[], message: string): string {
  return at.length === 0 ? message : `${formatPath(at)}: ${message}`;
}

function toPath(at: readonly PropertyKey[]): (string | number)[] {
  return at.map((segment) => (typeof segment === 'number' ? segment : String(segment)));
}

/** Zod's issues as problems an operator can act on, each pointing at the YAML node to blame. */
function describeIssue(issue: z.core.$ZodIssue): RuleIssue[] {
  const at = toPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const known = KNOWN_KEYS[formatPath(at)] ?? [];
    return issue.keys.map((key) => {
      const message = at.length === 0 && KNOWN_KEYS.when!.includes(key)
        ? `unknown key ${JSON.stringify(key)} (conditions go under when:)`
        : unknownKey(key, known);
      return { path: [...at, key], message: located(at, message) };
    });
  }
  if (issue.message === REQUIRED) {
    const field = at.at(-1);
    return [{ path: at, message: located(at.slice(0, -1), `missing required field ${JSON.stringify(field)}`) }];
  }
  return [{ path: at, message: located(at, issue.message) }];
}

/** A rule without an `id` is named after its file: `rules/warehouse-disabled.yml` → `warehouse-disabled`. */
export function defaultRuleId(file: string): string {
  return path.basename(file).replace(/\.ya?ml$/i, '');
}

export type RuleParseResult = { ok: true; rule: Rule } | { ok: false; issues: RuleIssue[] };

/**
 * Validates one parsed YAML document and normalises it: lists for `type`/`category`, durations in
 * milliseconds, compiled matchers, and the id defaulting to the file name without its extension.
 */
export function parseRule(data: unknown, source: { file: string; line?: number }): RuleParseResult {
  const result = ruleFileSchema.safeParse(data, { error: ruleErrorMap });
  if (!result.success) return { ok: false, issues: result.error.issues.flatMap(describeIssue) };
  const parsed = result.data;
  const id = parsed.id ?? defaultRuleId(source.file);
  if (!RULE_ID.test(id)) {
    return {
      ok: false,
      issues: [{ path: [], message: `the rule id defaults to the file name ${JSON.stringify(id)}, which is not a valid id: add an id or rename the file (an id ${RULE_ID_HINT})` }],
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
  const { threshold, throttle } = parsed;
  if (threshold) {
    rule.threshold = { count: threshold.count, withinMs: threshold.within, ...(threshold.by === undefined ? {} : { by: threshold.by }) };
  }
  if (throttle) rule.throttle = { withinMs: throttle.within, ...(throttle.by === undefined ? {} : { by: throttle.by }) };
  if (source.line !== undefined) rule.line = source.line;
  return { ok: true, rule };
}
