/** `/audit forward status | on <writeKey> [name] [--since 7d] | off`: the forms, and reading them. */

import { parseTimeSpec, TIME_HINT } from '../../filters.ts';
import { writeKeyProblem } from '../../forwarding/settings.ts';
import { truncate } from '../mrkdwn.ts';
import { QUOTED_TOKEN, show, type Token, textOf } from './tokens.ts';
import { type AuditCommand, fail } from './types.ts';

/** The forms of `/audit forward`, as the help and the forwarding status show them. */
export const FORWARD_SYNTAX = {
  status: '/audit forward status',
  on: '/audit forward on <writeKey> [name]',
  backfill: '/audit forward on <writeKey> [name] --since 7d',
  off: '/audit forward off',
} as const;

/** The same forms on one line, quoted by every answer to a malformed `/audit forward`. */
export const FORWARD_USAGE = '/audit forward status | on <writeKey> [name] [--since 7d] | off';

const MAX_NAME = 200;

/** Phones turn `--` into an en or em dash. */
const OPTION = /^(?:--|—|–)([a-z-]+)(?:=(.*))?$/i;

export function parseForward(tokens: readonly Token[]): AuditCommand {
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
      if (option[1]!.toLowerCase() !== 'since')
        return fail(`unknown option ${show(token)} — forward on takes --since, e.g. --since 7d`);
      let value = option[2];
      if (value === undefined) {
        // `--since 7d`: the time is the next token, which this option consumes.
        i += 1;
        const next = args[i];
        value = next && textOf(next);
      }
      if (!value) return fail(`--since needs a time, e.g. --since 7d`);
      since = parseTimeSpec(value.trim());
      if (!since)
        return fail(`${JSON.stringify(`--since ${truncate(value, QUOTED_TOKEN)}`)} is not a time: use ${TIME_HINT}`);
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
