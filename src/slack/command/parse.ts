/** Reads the text of the `/audit` slash command (SPEC section 5) into a subcommand with validated filters. */
import { parseFilters } from './filters.ts';
import { parseForward } from './forward.ts';
import { parseImport } from './import.ts';
import { parseSilence, parseSilences, parseUnsilence } from './silence.ts';
import { normaliseSlackText, tokenize } from './tokens.ts';
import { type AuditCommand, fail } from './types.ts';

/** Parses the text after `/audit`. Never throws: anything wrong comes back as `{ kind: 'error' }` naming the token. */
export function parseCommandText(text: string): AuditCommand {
  const tokens = tokenize(normaliseSlackText(text));
  if ('error' in tokens) return fail(tokens.error);
  const [first, ...rest] = tokens;
  if (!first) return { kind: 'help' };
  const subcommand = first.key === undefined && !first.quoted ? first.value.toLowerCase() : undefined;
  if (subcommand === 'help') return { kind: 'help' };
  if (subcommand === 'export') {
    const parsed = parseFilters(rest, 'export');
    return 'message' in parsed ? parsed : { kind: 'export', filters: parsed.filters };
  }
  if (subcommand === 'forward') return parseForward(rest);
  if (subcommand === 'silences') return parseSilences(rest);
  if (subcommand === 'silence') return parseSilence(rest);
  if (subcommand === 'unsilence') return parseUnsilence(rest);
  if (subcommand === 'import') return parseImport(rest);
  const parsed = parseFilters(tokens, 'query');
  return 'message' in parsed ? parsed : { kind: 'query', filters: parsed.filters, limit: parsed.limit };
}
