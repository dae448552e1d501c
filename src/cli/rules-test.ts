/**
 * `rules:test [--since 30d] [--workspace W] [--rules DIR]`: replays stored events through the enabled
 * rules and prints one line per alert that would have fired, then a summary. Posts nothing and never
 * connects to Redis; exit 1 on invalid rules, 2 on a usage mistake.
 */

import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { replayRules, type WouldBeAlert } from '../alerting/replay.ts';
import { formatProblem, loadRules } from '../alerting/rule-loader.ts';
import { type Config, ConfigError, loadConfig } from '../config.ts';
import { parseTimeSpec, TIME_HINT } from '../filters.ts';
import { createLogger } from '../logger.ts';
import { createDb, ensureDatabase, migrateDatabase } from '../store/db.ts';
import { type CliIo, UsageError } from './run.ts';

export const RULES_TEST_USAGE = `usage: npm run rules:test -- [--since 30d] [--workspace W] [--rules DIR]

  --since      replay events from this time on: ${TIME_HINT}; default 30d
  --workspace  replay only this workspace's events; default every workspace
  --rules      the rules directory; default RULES_DIR, then ./rules`;

interface RulesTestArgs {
  since: Date;
  workspaceId?: string;
  rulesDir?: string;
  help: boolean;
}

function parseRulesTestArgs(argv: readonly string[], now: number): RulesTestArgs {
  let values: { since?: string; workspace?: string; rules?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        since: { type: 'string' },
        workspace: { type: 'string' },
        rules: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    // parseArgs throws a TypeError with an ERR_PARSE_ARGS_* code for unknown options and the like.
    if ((error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) throw new UsageError((error as Error).message);
    throw error;
  }
  const sinceText = (values.since ?? '30d').trim();
  const since = parseTimeSpec(sinceText, now);
  if (!since) throw new UsageError(`--since "${sinceText}" is not ${TIME_HINT}`);
  if (values.workspace !== undefined && values.workspace.trim() === '')
    throw new UsageError('--workspace must not be empty');
  if (values.rules !== undefined && values.rules.trim() === '') throw new UsageError('--rules must not be empty');
  return {
    since,
    ...(values.workspace !== undefined && { workspaceId: values.workspace }),
    ...(values.rules !== undefined && { rulesDir: values.rules }),
    help: values.help ?? false,
  };
}

/** Producer text goes to a terminal: control characters (escape sequences, newlines) are shown escaped. */
function printable(text: string): string {
  return text.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is this function's job.
    /[\u0000-\u001f\u007f-\u009f]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

export function formatWouldBeAlert({ rule, event }: WouldBeAlert): string {
  return printable(
    [
      event.timestamp,
      rule.id,
      rule.severity,
      rule.channel,
      event.type,
      `${event.resource.type}/${event.resource.id}`,
      `by ${event.actor.type}:${event.actor.id}`,
      `(${event.workspaceId}/${event.id})`,
    ].join('  '),
  );
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** `3 alerts would have fired from 120 events since <ISO> (rules: a=2, b=1)`, busiest rule first. */
export function formatReplaySummary(alertsByRule: ReadonlyMap<string, number>, events: number, since: Date): string {
  const alerts = [...alertsByRule.values()].reduce((sum, count) => sum + count, 0);
  const from = `from ${plural(events, 'event')} since ${since.toISOString()}`;
  if (alerts === 0) return `no alerts would have fired ${from}`;
  const byRule = [...alertsByRule]
    .sort(([a, countA], [b, countB]) => countB - countA || (a < b ? -1 : a > b ? 1 : 0))
    .map(([id, count]) => `${id}=${count}`)
    .join(', ');
  return `${plural(alerts, 'alert')} would have fired ${from} (rules: ${byRule})`;
}

/** The command, callable from tests: returns the exit code; unexpected failures (the database) throw. */
export async function runRulesTest(
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
  io: CliIo,
  now = Date.now(),
): Promise<number> {
  let args: RulesTestArgs;
  try {
    args = parseRulesTestArgs(argv, now);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.err(`error: ${error.message}\n\n${RULES_TEST_USAGE}`);
    return 2;
  }
  if (args.help) {
    io.out(RULES_TEST_USAGE);
    return 0;
  }

  let config: Config;
  try {
    config = loadConfig(env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    io.err(error.message);
    return 1;
  }

  const rulesDir = args.rulesDir ?? config.rulesDir;
  const { rules, problems } = await loadRules(rulesDir);
  if (problems.length > 0) {
    for (const problem of problems) io.err(formatProblem(problem));
    return 1;
  }

  const logger = createLogger('warn', process.stderr);
  await ensureDatabase(config.databaseUrl, logger);
  await migrateDatabase(config.databaseUrl, logger);
  const database = createDb(config.databaseUrl, { max: 1, statementTimeoutMs: 0 });
  try {
    const alertsByRule = new Map<string, number>();
    const replay = replayRules(database.db, rules, {
      since: args.since,
      ...(args.workspaceId !== undefined && { workspaceId: args.workspaceId }),
    });
    // Iterated by hand rather than with for await, which would drop the generator's return value.
    for (let step = await replay.next(); ; step = await replay.next()) {
      if (step.done) {
        io.out(formatReplaySummary(alertsByRule, step.value.events, args.since));
        return 0;
      }
      io.out(formatWouldBeAlert(step.value));
      alertsByRule.set(step.value.rule.id, (alertsByRule.get(step.value.rule.id) ?? 0) + 1);
    }
  } finally {
    await database.close();
  }
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;

if (invokedDirectly) {
  const io: CliIo = {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
  };
  // A command-line entry point, like config.ts, is where the environment is read.
  process.exitCode = await runRulesTest(process.argv.slice(2), process.env, io).catch((error: unknown) => {
    io.err(`error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  });
}
