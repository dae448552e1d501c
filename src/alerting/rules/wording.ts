/** How rule problems read: zod's issues turned into messages an operator can act on, each located in the YAML. */
import type { z } from 'zod';
import { nearestName } from '../../did-you-mean.ts';
import type { RuleIssue } from './types.ts';

/** Stands for "this field is missing" until the issue is turned into a message naming the field. */
const REQUIRED = '\u0000required';

function listOf(names: readonly string[]): string {
  return names.length === 1 ? names[0]! : `${names.slice(0, -1).join(', ')} or ${names.at(-1)!}`;
}

/** `unknown event type "X", did you mean "Y"?`; with `listAll`, names the choices when none is close. */
export function unknownName(what: string, name: string, candidates: readonly string[], listAll = false): string {
  const nearest = nearestName(name, candidates);
  if (nearest !== undefined) return `unknown ${what} ${JSON.stringify(name)}, did you mean ${JSON.stringify(nearest)}?`;
  return `unknown ${what} ${JSON.stringify(name)}${listAll ? ` (expected ${listOf(candidates)})` : ''}`;
}

/**
 * The note for a name read as a catalog type: the rule matches events of that type whichever name it uses, since
 * every ingest path stores the catalog name (and the wire name in metadata.segmentType).
 */
export function wireNameNote(name: string, type: string): string {
  const what =
    name.toLowerCase() === type.toLowerCase()
      ? `${JSON.stringify(name)} is read as`
      : `${JSON.stringify(name)} is Segment's wire name for`;
  return `${what} ${JSON.stringify(type)}; the rule matches both (write ${JSON.stringify(type)} to silence this note)`;
}

function unknownKey(key: string, candidates: readonly string[]): string {
  const nearest = nearestName(key, candidates);
  const hint = nearest === undefined ? '' : ` (did you mean ${JSON.stringify(nearest)}?)`;
  return `unknown key ${JSON.stringify(key)}${hint}`;
}

/** A schema-level message for a wrong type that still lets a missing field read as "missing". */
export function wrongType(message: string) {
  return { error: (issue: z.core.$ZodRawIssue) => (issue.input === undefined ? undefined : message) };
}

/** Messages for the issues that no schema words itself. */
export const ruleErrorMap: z.core.$ZodErrorMap = (issue) => {
  if (issue.code === 'invalid_type')
    return issue.input === undefined ? REQUIRED : `must be ${describeType(issue.expected)}`;
  return undefined;
};

function describeType(expected: string): string {
  switch (expected) {
    case 'array':
      return 'a list';
    case 'object':
      return 'a mapping';
    case 'boolean':
      return 'true or false';
    case 'int':
      return 'a whole number';
    default:
      return `a ${expected}`;
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

/**
 * Zod's issues as problems an operator can act on, each pointing at the YAML node to blame. `knownKeys` lists the
 * keys each mapping takes (by its path: '' for the top level), to suggest one for a key that is not.
 */
export function describeIssue(
  issue: z.core.$ZodIssue,
  knownKeys: Readonly<Record<string, readonly string[]>>,
): RuleIssue[] {
  const at = toPath(issue.path);
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys[formatPath(at)] ?? [];
    return issue.keys.map((key) => {
      const message =
        at.length === 0 && knownKeys.when!.includes(key)
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
