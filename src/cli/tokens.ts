/** `tokens create|list|revoke`. */
import { parseArgs } from 'node:util';
import type { Database } from '../store/db.ts';
import { createIngestToken, listIngestTokens, revokeIngestToken } from '../store/tokens.ts';
import { type CliIo, UsageError } from './run.ts';

export const TOKENS_USAGE = `usage: npm run -s cli -- tokens <create|list|revoke>

  tokens create --workspace W --name N   create a producer token for workspace W; the token is printed
                                         once, alone on the last line (only its hash is stored):
                                           TOKEN=$(npm run -s cli -- tokens create --workspace W --name N | tail -n1)
  tokens list                            id, workspace, name, created and status of every token
  tokens revoke <id>                     revoke a token by its id (tok_…, from tokens list)`;

export async function tokensCommand(database: Database, args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'create': {
      const { values } = parseArgs({
        args: rest,
        options: { workspace: { type: 'string' }, name: { type: 'string' } },
        strict: true,
      });
      if (!values.workspace?.trim()) throw new UsageError('tokens create needs --workspace W');
      if (!values.name?.trim()) throw new UsageError('tokens create needs --name N');
      const { id, token } = await createIngestToken(database.db, {
        workspaceId: values.workspace.trim(),
        name: values.name.trim(),
      });
      io.out(
        `created token ${id} for workspace ${values.workspace.trim()} ("${values.name.trim()}"); it is shown only now:`,
      );
      io.out(token);
      return 0;
    }
    case 'list': {
      const rows = await listIngestTokens(database.db);
      if (rows.length === 0) {
        io.out('no tokens');
        return 0;
      }
      io.out(['id', 'workspace', 'name', 'created', 'status'].join('\t'));
      for (const row of rows) {
        const status = row.revokedAt ? `revoked ${row.revokedAt.toISOString()}` : 'active';
        io.out([row.id, row.workspaceId, row.name, row.createdAt.toISOString(), status].join('\t'));
      }
      return 0;
    }
    case 'revoke': {
      const id = rest[0];
      if (!id || rest.length !== 1) throw new UsageError('tokens revoke needs exactly one token id (see tokens list)');
      if (await revokeIngestToken(database.db, id)) {
        io.out(`revoked ${id}`);
        return 0;
      }
      io.err(`no active token with id ${id}`);
      return 1;
    }
    default:
      throw new UsageError(`tokens needs create, list or revoke${sub ? ` (got "${sub}")` : ''}`);
  }
}
