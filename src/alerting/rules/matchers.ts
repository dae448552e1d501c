/**
 * Field matchers: the conditions on actor, resource, changes, context and metadata in a rule's `when`, checked and
 * compiled (regex and glob once) as the rule file is read.
 */
import { z } from 'zod';
import { ACTOR_TYPES } from '../../events.ts';
import type { FieldMatcher, MatchedObject, Scalar, ValueTest } from './types.ts';
import { unknownName } from './wording.ts';

/** The fields an event's actor and resource have; a matcher on any other is a typo. */
export const ACTOR_FIELDS = ['type', 'id', 'name', 'email'] as const;
export const RESOURCE_FIELDS = ['type', 'id', 'name'] as const;

const FIELD_PATH = /^[^.]+(\.[^.]+)*$/;

type IssueSink = { addIssue(issue: { code: 'custom'; message: string; path: (string | number)[] }): void };

function isScalar(value: unknown): value is Scalar {
  return (
    typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value))
  );
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
export function fieldMatchers(object: MatchedObject, fields?: readonly string[]) {
  return z.unknown().transform((value, ctx): readonly FieldMatcher[] => {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      ctx.addIssue({
        code: 'custom',
        message: `must be a mapping of field names to matchers, e.g. ${object}: { id: x }`,
      });
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
        ctx.addIssue({
          code: 'custom',
          path: [field],
          message: `field name ${JSON.stringify(field)} must be a dotted path such as before.enabled`,
        });
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
