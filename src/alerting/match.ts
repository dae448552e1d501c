/** Whether a stored event meets a rule's `when`, and which threshold/throttle group it falls in. */
import type { StoredEvent } from '../events.ts';
import { isRecord } from '../json.ts';
import {
  type FieldMatcher,
  MATCHED_OBJECTS,
  type Rule,
  type RuleWhen,
  type Scalar,
  type ValueTest,
} from './rules/types.ts';

/**
 * True when the rule is enabled and every condition of its `when` holds. Disabled rules are checked
 * here, not left to callers, so no code path (the worker, `rules:test`) can alert from one by mistake.
 */
export function matchRule(rule: Rule, event: StoredEvent): boolean {
  return rule.enabled && matchWhen(rule.when, event);
}

/** Every listed condition must hold; an empty `when` matches every event. */
export function matchWhen(when: RuleWhen, event: StoredEvent): boolean {
  if (when.type && !when.type.includes(event.type)) return false;
  if (when.category && !when.category.includes(event.category)) return false;
  return MATCHED_OBJECTS.every((object) => {
    const matchers = when[object];
    return !matchers || matchers.every((matcher) => matchField(matcher, event[object]));
  });
}

function matchField(matcher: FieldMatcher, object: object | null): boolean {
  return testValue(matcher.test, resolvePath(object, matcher.path));
}

/**
 * The value at a dotted path. Own properties only, so `constructor` or `__proto__` never resolve to
 * something the producer did not send; a key that itself contains dots (`"a.b": 1`) is found too.
 */
export function resolvePath(root: unknown, path: readonly string[]): unknown {
  if (path.length === 0) return root;
  if (!isRecord(root)) return undefined;
  const literal = path.join('.');
  if (path.length > 1 && Object.hasOwn(root, literal)) return root[literal];
  const [head, ...rest] = path as [string, ...string[]];
  return Object.hasOwn(root, head) ? resolvePath(root[head], rest) : undefined;
}

function equalsAny(values: readonly Scalar[], value: unknown): boolean {
  // Strict equality: a YAML `true` matches JSON true but not the string "true", and 5 matches 5.0.
  return values.some((expected) => expected === value);
}

function testValue(test: ValueTest, value: unknown): boolean {
  switch (test.kind) {
    case 'equals':
      return equalsAny(test.values, value);
    case 'not':
      // A missing field is "not" any of the values, so `{not: [wh_sandbox]}` holds for it.
      return !equalsAny(test.values, value);
    case 'glob':
    case 'regex':
      // Numbers and booleans are matched by their text; objects, lists and missing fields never match.
      return (
        (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') &&
        test.regex.test(String(value))
      );
    case 'exists':
      return (value !== undefined && value !== null) === test.exists;
  }
}

/** The group value of an event whose `by` field is absent or null. */
export const ABSENT_GROUP = '';

/**
 * The threshold/throttle group of an event: its workspace plus the value at `by` (e.g. `actor.id`).
 * The workspace is always part of the key so one tenant's events never count toward another's
 * threshold; without `by`, all of a workspace's matches form one group.
 */
export function groupKey(by: string | undefined, event: StoredEvent): string {
  if (by === undefined) return event.workspaceId;
  const [root, ...rest] = by.split('.') as [string, ...string[]];
  const value = resolvePath(
    Object.hasOwn(event, root) ? (event as unknown as Record<string, unknown>)[root] : undefined,
    rest,
  );
  const text =
    value === undefined || value === null ? ABSENT_GROUP : typeof value === 'string' ? value : JSON.stringify(value);
  return `${event.workspaceId}:${text}`;
}
