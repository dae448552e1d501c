/** `npm run cli -- <command>`: tokens, verify, send, digest (SPEC section 10). */
import { ConfigError } from '../config.ts';
import { type CliIo, runCli, USAGE, UsageError } from './run.ts';

const io: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

runCli(process.argv.slice(2), process.env, io)
  .then((code) => process.exit(code))
  .catch((error: unknown) => {
    if (error instanceof ConfigError) io.err(error.message);
    else if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`error: ${(error as Error).message}\n\n${USAGE}`);
      process.exit(2);
    } else io.err(`error: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  });
