/**
 * Split into rules/{types,schema,matchers,wording}.ts. Kept only for match.ts, which another branch is editing:
 * point its import at rules/types.ts and delete this file.
 */
export {
  MATCHED_OBJECTS,
  type FieldMatcher,
  type Rule,
  type RuleWhen,
  type Scalar,
  type ValueTest,
} from './rules/types.ts';
