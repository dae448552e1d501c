/** Loads the rule files of a directory, reporting every problem as `file:line: message`, and reloads them on change. */
import { type FSWatcher, readdirSync, statSync, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type Document, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { defaultRuleId, parseRule, RULE_ID } from './rules/schema.ts';
import type { Rule } from './rules/types.ts';

export interface RuleProblem {
  /** The rule file, joined onto the rules directory as it was given (e.g. `rules/warehouse-disabled.yml`). */
  file: string;
  /** 1-based; absent only when the problem is the directory itself. */
  line?: number;
  message: string;
}

export interface RuleLoadResult {
  rules: Rule[];
  problems: RuleProblem[];
  /** Not problems: advice on valid rules (a Segment wire name where the catalog name reads better). */
  notes: RuleProblem[];
}

/** The part of a pino logger the watcher needs. */
export interface RuleLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export function formatProblem(problem: RuleProblem): string {
  return problem.line === undefined
    ? `${problem.file}: ${problem.message}`
    : `${problem.file}:${problem.line}: ${problem.message}`;
}

/** Thrown by `loadRuleSet` so start-up can refuse to run with invalid rules and say why. */
export class RuleProblemsError extends Error {
  constructor(readonly problems: readonly RuleProblem[]) {
    super(`invalid rules:\n${problems.map(formatProblem).join('\n')}`);
    this.name = 'RuleProblemsError';
  }
}

/** Editors and Kubernetes ConfigMaps leave dotfiles (`.#x.yml`, `..data`) beside the rules; they are not rules. */
function isRuleFileName(name: string): boolean {
  return !name.startsWith('.') && /\.ya?ml$/i.test(name);
}

/** Synchronous: a rules directory holds a handful of entries, and the watcher needs an immediate baseline. */
function ruleFileNames(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .filter((entry) => (entry.isFile() || entry.isSymbolicLink()) && isRuleFileName(entry.name))
    .map((entry) => entry.name)
    .sort();
}

/** Every rule file of `dir` (sorted by name), validated; a rule with a problem is left out of `rules`. */
export async function loadRules(dir: string): Promise<RuleLoadResult> {
  let names: string[];
  try {
    names = ruleFileNames(dir);
  } catch (error) {
    return {
      rules: [],
      problems: [{ file: dir, message: `cannot read the rules directory: ${(error as Error).message}` }],
      notes: [],
    };
  }
  const rules: Rule[] = [];
  const problems: RuleProblem[] = [];
  const notes: RuleProblem[] = [];
  const fileById = new Map<string, string>();
  for (const name of names) {
    const file = path.join(dir, name);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      problems.push({ file, line: 1, message: `cannot read the file: ${(error as Error).message}` });
      continue;
    }
    const parsed = parseRuleFile(text, file);
    problems.push(...parsed.problems);
    notes.push(...(parsed.notes ?? []));
    // Invalid files take part too, so fixing one does not reveal a duplicate only on the next run.
    if (parsed.id !== undefined) {
      const firstFile = fileById.get(parsed.id);
      if (firstFile !== undefined) {
        problems.push({
          file,
          line: parsed.idLine,
          message: `duplicate rule id ${JSON.stringify(parsed.id)} (already defined in ${firstFile})`,
        });
        continue;
      }
      fileById.set(parsed.id, file);
    }
    if (parsed.rule) rules.push(parsed.rule);
  }
  return { rules, problems, notes };
}

/** Loads the rules, or throws RuleProblemsError listing every problem. */
export async function loadRuleSet(dir: string): Promise<RuleSet> {
  const { rules, problems } = await loadRules(dir);
  if (problems.length > 0) throw new RuleProblemsError(problems);
  return new RuleSet(rules);
}

export interface ParsedRuleFile {
  rule?: Rule;
  /** The rule's id (declared, or the file name) whenever it can be told, even if the rule is invalid. */
  id?: string;
  problems: RuleProblem[];
  notes?: RuleProblem[];
  /** Where a duplicate id is reported: the `id:` line, or the rule's first line when the id is the file name. */
  idLine: number;
}

/** One rule file's text as a Rule, or the problems that stop it, each at the line of the offending key or value. */
export function parseRuleFile(text: string, file: string): ParsedRuleFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((error) => ({
      file,
      line: error.linePos?.[0].line ?? 1,
      message:
        error.code === 'MULTIPLE_DOCS'
          ? 'YAML syntax error: a rule file holds one rule, but a second document (---) starts here'
          : `YAML syntax error: ${error.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`,
    }));
    return { problems: uniqueProblems(problems), idLine: 1 };
  }
  if (doc.contents === null) {
    return {
      problems: [{ file, line: 1, message: 'the file is empty; a rule needs at least when and channel' }],
      idLine: 1,
    };
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (error) {
    // toJS refuses, e.g., alias bombs; the document itself parsed, so this is not a syntax error.
    return { problems: [{ file, line: 1, message: (error as Error).message }], idLine: 1 };
  }
  const lineOf = (at: readonly (string | number)[]) => lineOfPath(doc, at, lineCounter);
  const firstLine = lineOf([]);
  const result = parseRule(data, { file, line: firstLine });
  if (!result.ok) {
    const problems = result.issues.map((issue) => ({ file, line: lineOf(issue.path), message: issue.message }));
    const id = declaredRuleId(data, file);
    return {
      ...(id === undefined ? {} : { id }),
      problems: problems.sort((a, b) => a.line - b.line),
      idLine: lineOf(['id']),
    };
  }
  const notes = result.notes.map((note) => ({ file, line: lineOf(note.path), message: note.message }));
  return { rule: result.rule, id: result.rule.id, problems: [], notes, idLine: lineOf(['id']) };
}

/** The id an invalid rule would have had, when it is a valid id. */
function declaredRuleId(data: unknown, file: string): string | undefined {
  const declared = data !== null && typeof data === 'object' && 'id' in data ? data.id : defaultRuleId(file);
  return typeof declared === 'string' && RULE_ID.test(declared) ? declared : undefined;
}

function uniqueProblems(problems: RuleProblem[]): RuleProblem[] {
  const seen = new Set<string>();
  return problems.filter((problem) => {
    const key = formatProblem(problem);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The line to blame for an issue at `at`: a map entry's key line (so `threshold:` is blamed for a
 * missing `count`), a list item's own line. A path that leaves the document (a missing field, or a
 * `type: X` the schema saw as `[X]`) stops at the deepest node that exists.
 */
function lineOfPath(doc: Document, at: readonly (string | number)[], lineCounter: LineCounter): number {
  const lineAt = (offset: number | undefined, fallback: number) =>
    offset === undefined ? fallback : lineCounter.linePos(offset).line;
  let node: unknown = doc.contents;
  let line = lineAt(isMap(node) || isSeq(node) || isScalar(node) ? node.range?.[0] : undefined, 1);
  for (const segment of at) {
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => (isScalar(item.key) ? String(item.key.value) : String(item.key)) === String(segment),
      );
      if (!pair) break;
      line = lineAt(isScalar(pair.key) ? pair.key.range?.[0] : undefined, line);
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item: unknown = node.items[segment];
      if (!(isMap(item) || isSeq(item) || isScalar(item))) break;
      line = lineAt(item.range?.[0], line);
      node = item;
    } else {
      break;
    }
  }
  return line;
}

/** The rules in force; the alert worker reads `current()` per event, the watcher swaps in a new list. */
export class RuleSet {
  #rules: readonly Rule[];

  constructor(rules: readonly Rule[] = []) {
    this.#rules = Object.freeze([...rules]);
  }

  current(): readonly Rule[] {
    return this.#rules;
  }

  replace(rules: readonly Rule[]): void {
    this.#rules = Object.freeze([...rules]);
  }
}

export interface WatchRulesOptions {
  /** Quiet period after a change before reloading, so an editor's write-rename-chmod is one reload. */
  debounceMs?: number;
  /** How often the directory is compared by mtime and size, for filesystems where fs.watch says nothing. */
  pollMs?: number;
  /** false: poll only, for network filesystems where change notifications never arrive. */
  fsWatch?: boolean;
  /** Called with the problems of a change that was rejected (the last good rules stay in force). */
  onInvalid?: (problems: readonly RuleProblem[]) => void;
}

export interface RulesWatcher {
  close(): void;
}

/** Names, mtimes and sizes of the rule files: a change to any of them is a change to the rules. */
function directorySignature(dir: string): string {
  // Synchronous on purpose: the baseline must be taken at the moment watchRules is called, or an edit
  // made right after the call could become the baseline and never be seen. A rules directory holds a
  // handful of files, so the stats cost microseconds, at start and once per poll.
  try {
    return ruleFileNames(dir)
      .map((name) => {
        try {
          const info = statSync(path.join(dir, name));
          return `${name}:${info.mtimeMs}:${info.size}`;
        } catch (error) {
          return `${name}:${(error as NodeJS.ErrnoException).code ?? 'error'}`;
        }
      })
      .join('\n');
  } catch (error) {
    return `directory:${(error as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}

/**
 * Reloads the rules when a file in `dir` changes and hands a valid new set to `onChange` (for example
 * `(rules) => ruleSet.replace(rules)`); an invalid change is logged and reported to `onInvalid`, and the
 * last good set stays in force. The state at the time of the call is taken as already loaded.
 */
export function watchRules(
  dir: string,
  logger: RuleLogger,
  onChange: (rules: readonly Rule[]) => void,
  options: WatchRulesOptions = {},
): RulesWatcher {
  const debounceMs = options.debounceMs ?? 200;
  const pollMs = options.pollMs ?? 2_000;
  let closed = false;
  let debounce: NodeJS.Timeout | undefined;
  let running = false;
  let rerun = false;
  let lastSignature = directorySignature(dir);

  const check = async (): Promise<void> => {
    if (running) {
      rerun = true;
      return;
    }
    running = true;
    try {
      do {
        rerun = false;
        const signature = directorySignature(dir);
        if (closed || signature === lastSignature) continue;
        const { rules, problems } = await loadRules(dir);
        if (closed) return;
        // Remembered even when invalid, so a bad file is reported once rather than on every poll.
        lastSignature = signature;
        if (problems.length > 0) {
          logger.warn(
            { dir, problems: problems.map(formatProblem) },
            'rule change rejected; keeping the last good rules',
          );
          options.onInvalid?.(problems);
        } else {
          logger.info({ dir, rules: rules.map((rule) => rule.id) }, `rules reloaded: ${rules.length} rules`);
          onChange(rules);
        }
      } while (rerun && !closed);
    } catch (error) {
      logger.error({ dir, err: error }, 'reloading the rules failed; keeping the last good rules');
    } finally {
      running = false;
    }
  };

  const trigger = () => {
    if (closed) return;
    clearTimeout(debounce);
    debounce = setTimeout(() => void check(), debounceMs);
    debounce.unref();
  };

  let watcher: FSWatcher | undefined;
  if (options.fsWatch ?? true) {
    try {
      watcher = watch(dir, { persistent: false }, trigger);
      watcher.on('error', (error) => {
        logger.warn({ dir, err: error }, 'watching the rules directory failed; polling it instead');
        watcher?.close();
        watcher = undefined;
      });
    } catch (error) {
      logger.warn({ dir, err: error }, 'cannot watch the rules directory; polling it instead');
    }
  }
  const poll = setInterval(trigger, pollMs);
  poll.unref();

  return {
    close() {
      closed = true;
      clearTimeout(debounce);
      clearInterval(poll);
      watcher?.close();
    },
  };
}
