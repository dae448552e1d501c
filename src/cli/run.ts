/** The CLI's commands (SPEC section 10), callable from tests; main.ts is the process entry. */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config.ts';
import { createLogger } from '../logger.ts';
import { createDb, type Database, ensureDatabase, migrateDatabase } from '../store/db.ts';
import { DIGEST_USAGE, digestCommand } from './digest.ts';
import { SEND_USAGE, sendCommand } from './send.ts';
import { TOKENS_USAGE, tokensCommand } from './tokens.ts';
import { VERIFY_USAGE, verifyCommand } from './verify.ts';
import { verifyDigestsCommand } from './verify-digests.ts';

export const USAGE = `usage: npm run -s cli -- <command>   (-s: npm does not echo the command line, tokens included)

  tokens create --workspace W --name N   create a producer token (printed once, on the last line)
  tokens list                            list tokens (never the tokens themselves)
  tokens revoke <id>                     revoke a token
  verify [--workspace W]                 check the hash chain of one or every workspace
  verify --digests [--workspace W] [--public-key FILE]... [--channel C]
                                         also check the chain against the signed digests in DIGEST_CHANNEL
  digest [--workspace W]                 post the signed chain digests to DIGEST_CHANNEL now
  digest keygen                          print a new Ed25519 key pair for DIGEST_SIGNING_KEY
  digest public-key                      print the public key of DIGEST_SIGNING_KEY and its fingerprint
  send --type T --actor A --resource-type RT --resource-id RID [--actor-type user|token|system]
       [--actor-name N] [--actor-email E] [--resource-name N] [--id ID] [--metadata JSON]
       [--changes JSON] [--url http://127.0.0.1:3000] [--token T (or AUDIT_TOKEN)]
                                         post one event to a running service

  <command> --help                       usage of one command
`;

/** Each command's own usage, for `<command> --help` (a function: the command modules import this one). */
function commandUsage(command: string): string | undefined {
  const usages: Record<string, string> = {
    tokens: TOKENS_USAGE,
    verify: VERIFY_USAGE,
    send: SEND_USAGE,
    digest: DIGEST_USAGE,
  };
  return usages[command];
}

/** A mistake in how the command was called: printed with the usage, exit 2. */
export class UsageError extends Error {}

export interface CliIo {
  out(line: string): void;
  err(line: string): void;
}

async function withDatabase<T>(databaseUrl: string, run: (database: Database) => Promise<T>): Promise<T> {
  const logger = createLogger('warn', process.stderr);
  await ensureDatabase(databaseUrl, logger);
  await migrateDatabase(databaseUrl, logger);
  // No statement timeout: the 5-second answer is the HTTP API's promise; a verify of a large chain may take longer.
  const database = createDb(databaseUrl, { max: 2, statementTimeoutMs: 0 });
  try {
    return await run(database);
  } finally {
    await database.close();
  }
}

export async function runCli(argv: string[], env: NodeJS.ProcessEnv, io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === 'help' || command === '--help') {
    io.out(USAGE);
    return command ? 0 : 2;
  }
  // Before the configuration is read: asking how to call a command needs no database and no valid environment.
  if (rest.includes('--help') || rest.includes('-h')) {
    const usage = commandUsage(command);
    if (!usage) throw new UsageError(`unknown command "${command}"`);
    io.out(usage);
    return 0;
  }
  const config = loadConfig(env, { for: 'cli' });
  switch (command) {
    case 'tokens':
      return withDatabase(config.databaseUrl, (database) => tokensCommand(database, rest, io));
    case 'verify': {
      if (rest.includes('--digests')) {
        return verifyDigestsCommand(config, rest, io, (run) => withDatabase(config.databaseUrl, run));
      }
      const { values } = parseArgs({ args: rest, options: { workspace: { type: 'string' } }, strict: true });
      return withDatabase(config.databaseUrl, (database) => verifyCommand(database, values.workspace, io));
    }
    case 'send':
      return sendCommand(config, env, rest, io);
    case 'digest':
      return digestCommand(config, rest, io, (run) => withDatabase(config.databaseUrl, run));
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}
