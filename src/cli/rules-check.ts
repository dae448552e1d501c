/**
 * `rules:check [dir]`: validates every rule file, prints `file:line: message` per problem to stderr and
 * exits 1, or prints `ok N rules in <dir>` and exits 0; notes on valid rules go to stdout either way. The directory
 * defaults to RULES_DIR, then ./rules.
 */
import { pathToFileURL } from 'node:url';
import { formatProblem, loadRules } from '../alerting/rule-loader.ts';

export interface RulesCheckOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export const RULES_CHECK_USAGE = `usage: npm run rules:check [-- DIR]

  Validates every rule file (*.yml, *.yaml) in DIR (default RULES_DIR, then ./rules) and prints
  "file:line: message" for each problem: unknown keys, unknown event types (with a suggestion),
  bad durations, bad regular expressions, duplicate ids. Exit 1 on any problem, else prints
  "ok N rules in DIR" and exits 0.`;

export async function checkRules(dir: string): Promise<RulesCheckOutput> {
  const { rules, problems, notes } = await loadRules(dir);
  // Notes are advice on valid rules (a wire name where the catalog name reads better): shown, never a failure.
  const noted = notes.map((note) => `${formatProblem({ ...note, message: `note: ${note.message}` })}\n`).join('');
  if (problems.length > 0) {
    return { exitCode: 1, stdout: noted, stderr: problems.map((problem) => `${formatProblem(problem)}\n`).join('') };
  }
  return { exitCode: 0, stdout: `${noted}ok ${rules.length} rules in ${dir}\n`, stderr: '' };
}

const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href;

if (invokedDirectly) {
  const args = process.argv.slice(2);
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${RULES_CHECK_USAGE}\n`);
  } else if (args.length > 1 || args[0]?.startsWith('-')) {
    const got = args.join(' ');
    process.stderr.write(`error: rules:check takes one directory at most (got ${got})\n\n${RULES_CHECK_USAGE}\n`);
    process.exitCode = 2;
  } else {
    // A command-line entry point, like config.ts, is where the environment is read.
    const dir = args[0] ?? process.env.RULES_DIR ?? './rules';
    const output = await checkRules(dir);
    process.stdout.write(output.stdout);
    process.stderr.write(output.stderr);
    process.exitCode = output.exitCode;
  }
}
