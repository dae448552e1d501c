/**
 * `/audit silences`, `/audit silence <rule-id> [resource:<id>] for:<duration>` and `/audit unsilence <id>`: the forms,
 * and reading them. Whether the rule exists is checked against the rules in force by checkRuleId.
 */
import { nearestName } from '../../did-you-mean.ts';
import { DURATION_HINT, tryParseDuration } from '../../duration.ts';
import { show, type Token } from './tokens.ts';
import { type AuditCommand, fail } from './types.ts';

export const SILENCE_SYNTAX = {
  list: '/audit silences',
  silence: '/audit silence <rule-id> [resource:<id>] for:<duration>',
  unsilence: '/audit unsilence <id>',
} as const;

/** The longest silence by text; the alert's menu offers up to 7 days. */
export const MAX_SILENCE_MS = 90 * 86_400_000;
const MAX_SILENCE = '90d';
/** Resource ids are at most this long in events (SPEC section 3 limits, events.ts). */
const MAX_RESOURCE_ID = 256;
const SILENCE_KEYS = ['resource', 'for'] as const;

export function parseSilences(args: readonly Token[]): AuditCommand {
  if (args[0]) return fail(`silences takes nothing more (got ${show(args[0])}): ${SILENCE_SYNTAX.list}`);
  return { kind: 'silences' };
}

export function parseSilence(args: readonly Token[]): AuditCommand {
  let ruleId: string | undefined;
  let resourceId: string | undefined;
  let duration: { text: string; ms: number } | undefined;
  for (const token of args) {
    if (token.key === undefined) {
      if (ruleId !== undefined) return fail(`${show(token)} is not understood: ${SILENCE_SYNTAX.silence}`);
      ruleId = token.value;
      continue;
    }
    const key = token.key.toLowerCase();
    const value = token.value.trim();
    if (key === 'resource') {
      if (resourceId !== undefined) return fail(`resource: is given twice: ${SILENCE_SYNTAX.silence}`);
      if (!value) return fail(`resource: needs a resource id, e.g. resource:wh_1`);
      if (value.length > MAX_RESOURCE_ID)
        return fail(`${show(token)} is too long (at most ${MAX_RESOURCE_ID} characters)`);
      resourceId = value;
    } else if (key === 'for') {
      if (duration !== undefined) return fail(`for: is given twice: ${SILENCE_SYNTAX.silence}`);
      const ms = tryParseDuration(value);
      if (ms === undefined) return fail(`${show(token)} is not a duration: ${DURATION_HINT}`);
      if (ms > MAX_SILENCE_MS) return fail(`${show(token)} is too long: a silence lasts at most ${MAX_SILENCE}`);
      duration = { text: value, ms };
    } else {
      const nearest = nearestName(key, SILENCE_KEYS);
      const hint = nearest ? `did you mean ${nearest}:? ` : '';
      return fail(
        `unknown option ${show(token)} — ${hint}silence takes resource: and for: — ${SILENCE_SYNTAX.silence}`,
      );
    }
  }
  if (ruleId === undefined)
    return fail(`silence needs a rule id: ${SILENCE_SYNTAX.silence}, e.g. /audit silence warehouse-disabled for:8h`);
  if (duration === undefined) return fail(`silence needs for:<duration>, e.g. for:8h (${DURATION_HINT})`);
  return {
    kind: 'silence',
    ruleId,
    ...(resourceId !== undefined && { resourceId }),
    duration: duration.text,
    durationMs: duration.ms,
  };
}

export function parseUnsilence(args: readonly Token[]): AuditCommand {
  const [token, extra] = args;
  const usage = `${SILENCE_SYNTAX.unsilence}, e.g. /audit unsilence 12 (\`/audit silences\` lists them)`;
  if (!token) return fail(`unsilence needs a silence id: ${usage}`);
  if (extra) return fail(`unsilence takes one silence id (got ${show(extra)} too): ${usage}`);
  const digits = token.key === undefined ? /^#?(\d{1,9})$/.exec(token.value)?.[1] : undefined;
  const id = digits === undefined ? Number.NaN : Number(digits);
  if (!(id >= 1)) return fail(`${show(token)} is not a silence id: ${usage}`);
  return { kind: 'unsilence', id };
}

/** Why `ruleId` names no rule in force (with the nearest one, if any is close), or undefined when it does. */
export function checkRuleId(ruleId: string, knownIds: readonly string[]): string | undefined {
  if (knownIds.includes(ruleId)) return undefined;
  const nearest = nearestName(ruleId, knownIds);
  const shown = JSON.stringify(ruleId.slice(0, 100));
  if (nearest) return `unknown rule id ${shown} — did you mean ${nearest}?`;
  if (knownIds.length === 0) return `unknown rule id ${shown} — no rules are loaded`;
  const some = knownIds.slice(0, 10).join(', ');
  return `unknown rule id ${shown} — rules are ${some}${knownIds.length > 10 ? ', …' : ''}`;
}
