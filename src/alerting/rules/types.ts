/** A rule as the alert worker uses it, normalised from its file: conditions compiled, durations in milliseconds. */

export const SEVERITIES = ['critical', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

export type Scalar = string | number | boolean;

/** What a field matcher asks of one value; `regex` and `glob` are compiled once, when the rule is loaded. */
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
  /** Later matches with the same value at `by` share the first one's message until `withinMs` passes without one. */
  group?: { withinMs: number; by?: string };
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
