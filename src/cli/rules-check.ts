/**
 * `rules:check [dir]`: validates every rule file, prints `file:line: message` per problem to stderr and
 * exits 1, or prints `ok N rules in <dir>` and exits 0; notes on valid rules go to stdout either way. The directory defaults to RULES_DIR, then ./rules.
 */
import { pathToFileURL } from 'node:url';
import { formatProblem, loadRules } from '../alerting/rule-loader.ts';

export interface RulesCheckOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
}

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
  // A command-line entry point, like config.ts, is where the environment is read.
  const dir = process.argv[2] ?? process.env.RULES_DIR ?? './rules';
  const output = await checkRules(dir);
  process.stdout.write(output.stdout);
  process.stderr.write(output.stderr);
  process.exitCode = output.exitCode;
}
