/** `/audit import status`: the one form, and reading it. */
import { show, type Token } from './tokens.ts';
import { type AuditCommand, fail } from './types.ts';

export const IMPORT_USAGE = '/audit import status';

export function parseImport(tokens: readonly Token[]): AuditCommand {
  const [action, extra] = tokens;
  const word = action?.key === undefined ? action?.value.toLowerCase() : undefined;
  if (word !== 'status') return fail(`import takes status${action ? ` (got ${show(action)})` : ''}: ${IMPORT_USAGE}`);
  if (extra) return fail(`import status takes nothing more (got ${show(extra)}): ${IMPORT_USAGE}`);
  return { kind: 'import', action: 'status' };
}
