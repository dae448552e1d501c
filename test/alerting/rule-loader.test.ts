import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import {
  formatProblem,
  loadRuleSet,
  loadRules,
  type RuleLogger,
  type RuleProblem,
  RuleProblemsError,
  RuleSet,
  watchRules,
} from '../../src/alerting/rule-loader.ts';
import type { Rule } from '../../src/alerting/rules/types.ts';
import { CATALOG } from '../../src/catalog.ts';

const SHIPPED_RULES = fileURLToPath(new URL('../../rules', import.meta.url));

const dirs: string[] = [];

async function rulesDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'audit-rules-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** The `file:line: message` lines for a directory, with the temporary directory shown as `rules`. */
async function problemLines(dir: string): Promise<string[]> {
  const { problems } = await loadRules(dir);
  return problems.map((problem) => formatProblem(problem).replace(dir, 'rules'));
}

const VALID = `# A warehouse was disabled.
description: A warehouse was disabled
when:
  type: Warehouses Disabled
  resource: { id: { not: [wh_sandbox] } }
threshold: { count: 2, within: 10m, by: actor.id }
throttle: { within: 15m }
channel: "#data-alerts"
severity: critical
revert: true
`;

describe('loadRules', () => {
  it('normalises a valid rule: id from the file name, lists, durations in milliseconds and defaults', async () => {
    const dir = await rulesDir({ 'warehouse-disabled.yml': VALID });

    const { rules, problems } = await loadRules(dir);

    expect(problems).toEqual([]);
    expect(rules).toHaveLength(1);
    const rule = rules[0]!;
    expect(rule).toMatchObject({
      id: 'warehouse-disabled',
      description: 'A warehouse was disabled',
      enabled: true,
      when: { type: ['Warehouses Disabled'] },
      threshold: { count: 2, withinMs: 600_000, by: 'actor.id' },
      throttle: { withinMs: 900_000 },
      channel: '#data-alerts',
      mention: [],
      severity: 'critical',
      revert: true,
      file: path.join(dir, 'warehouse-disabled.yml'),
      line: 2,
    });
    expect(rule.when.resource).toEqual([{ field: 'id', path: ['id'], test: { kind: 'not', values: ['wh_sandbox'] } }]);
    expect(rule.throttle).not.toHaveProperty('by');
  });

  it('reads .yml and .yaml files in name order and ignores other files and dotfiles', async () => {
    const rule = 'when: { type: User Removed }\nchannel: "#data-audit"\n';
    const dir = await rulesDir({
      'b.yaml': rule,
      'a.yml': rule,
      'notes.txt': 'x: [',
      '.#a.yml': 'x: [',
      'c.yml.swp': 'x: [',
    });

    const { rules, problems } = await loadRules(dir);

    expect(problems).toEqual([]);
    expect(rules.map((r) => r.id)).toEqual(['a', 'b']);
  });

  it('reports an unknown key at its line with the nearest known key', async () => {
    const dir = await rulesDir({
      'x.yml': 'id: x\nwhen:\n  type: [User Removed]\nthresold: { count: 2, within: 1m }\nchannel: "#a"\n',
    });

    expect(await problemLines(dir)).toEqual(['rules/x.yml:4: unknown key "thresold" (did you mean "threshold"?)']);
  });

  it('reports an unknown key inside when, and a condition written outside when', async () => {
    const dir = await rulesDir({
      'x.yml': 'when:\n  type: [User Removed]\n  actr: { id: usr_1 }\ncategory: [Source]\nchannel: "#a"\n',
    });

    expect(await problemLines(dir)).toEqual([
      'rules/x.yml:3: when: unknown key "actr" (did you mean "actor"?)',
      'rules/x.yml:4: unknown key "category" (conditions go under when:)',
    ]);
  });

  it('reports an unknown event type with a did-you-mean suggestion, at the line of the list item', async () => {
    const dir = await rulesDir({
      'x.yml':
        'when:\n  type:\n    - Source Deleted\n    - Warehouses Disbled\n' +
        '    - Something Else Entirely\nchannel: "#a"\n',
    });

    expect(await problemLines(dir)).toEqual([
      'rules/x.yml:4: when.type[1]: unknown event type "Warehouses Disbled", did you mean "Warehouses Disabled"?',
      'rules/x.yml:5: when.type[2]: unknown event type "Something Else Entirely"',
    ]);
  });

  it('reads a Segment wire name as the catalog type it stands for, with a note instead of a problem', async () => {
    const dir = await rulesDir({
      'x.yml': 'when:\n  type: [Warehouse Disabled, Warehouses Disabled, Source Function Updated]\nchannel: "#a"\n',
    });

    const { rules, problems, notes } = await loadRules(dir);

    expect(problems).toEqual([]);
    expect(rules[0]?.when.type).toEqual(['Warehouses Disabled', 'Source Function Modified']);
    expect(notes.map((note) => formatProblem(note).replace(dir, 'rules'))).toEqual([
      'rules/x.yml:2: "Warehouse Disabled" is Segment\'s wire name for "Warehouses Disabled"; ' +
        'the rule matches both (write "Warehouses Disabled" to silence this note)',
      'rules/x.yml:2: "Source Function Updated" is Segment\'s wire name for "Source Function Modified"; ' +
        'the rule matches both (write "Source Function Modified" to silence this note)',
    ]);
  });

  it('reports an unknown category given as a single string, ignoring case for the suggestion', async () => {
    const dir = await rulesDir({ 'x.yml': 'when:\n  category: warehouses\nchannel: "#a"\n' });

    expect(await problemLines(dir)).toEqual([
      'rules/x.yml:2: when.category: unknown category "warehouses", did you mean "Warehouses"?',
    ]);
  });

  it('reports a bad duration in a threshold and in a throttle', async () => {
    const dir = await rulesDir({
      'x.yml':
        'when: { type: [User Removed] }\nthreshold:\n  count: 3\n  within: 10 minutes\n' +
        'throttle: { within: 0s }\nchannel: "#a"\n',
    });

    expect(await problemLines(dir)).toEqual([
      'rules/x.yml:4: threshold.within: invalid duration "10 minutes": ' +
        'use a whole number followed by s, m, h or d, e.g. 30s, 10m, 12h, 7d',
      'rules/x.yml:5: throttle.within: invalid duration "0s": ' +
        'use a whole number followed by s, m, h or d, e.g. 30s, 10m, 12h, 7d',
    ]);
  });

  it('reports an invalid regex with the reason the engine gives', async () => {
    const dir = await rulesDir({
      'x.yml': 'when:\n  type: [Source Deleted]\n  resource:\n    name: { regex: "prod-(" }\nchannel: "#a"\n',
    });

    expect(await problemLines(dir)).toEqual([
      'rules/x.yml:4: when.resource.name.regex: invalid regex "prod-(": Unterminated group',
    ]);
  });

  it('reports missing required fields: channel at the start of the rule, count at its threshold', async () => {
    const dir = await rulesDir({ 'x.yml': '# header\nwhen: { type: [User Removed] }\nthreshold: { within: 5m }\n' });

    expect(await problemLines(dir)).toEqual([
      'rules/x.yml:2: missing required field "channel"',
      'rules/x.yml:3: threshold: missing required field "count"',
    ]);
  });

  it('explains an unquoted #channel, which YAML reads as a comment', async () => {
    const dir = await rulesDir({ 'x.yml': 'when: { type: [User Removed] }\nchannel: #data-alerts\n' });

    expect(await problemLines(dir)).toEqual([
      'rules/x.yml:2: channel: is empty; quote the name, e.g. channel: "#data-alerts" ' +
        '(an unquoted # starts a YAML comment)',
    ]);
  });

  it('reports bad matchers, unknown actor fields and impossible actor types', async () => {
    const dir = await rulesDir({
      'x.yml': [
        'when:',
        '  actor:',
        '    type: [user, tokn]',
        '    emial: { glob: "*@acme.com" }',
        '  metadata:',
        '    plan: { startsWith: pro }',
        '    tier: { exists: maybe }',
        '    owner: ~',
        'channel: "#a"',
        '',
      ].join('\n'),
    });

    expect(await problemLines(dir)).toEqual([
      'rules/x.yml:3: when.actor.type[1]: unknown actor type "tokn", did you mean "token"?',
      'rules/x.yml:4: when.actor.emial: unknown actor field "emial", did you mean "email"?',
      'rules/x.yml:6: when.metadata.plan.startsWith: unknown matcher "startsWith" ' +
        '(expected not, glob, regex or exists)',
      'rules/x.yml:7: when.metadata.tier.exists: must be true or false',
      'rules/x.yml:8: when.metadata.owner: has no value; use {exists: false} to match a missing field',
    ]);
  });

  it('reports a threshold count below 2, a bad group path, a bad channel and a bad severity', async () => {
    const dir = await rulesDir({
      'x.yml': [
        'when: { type: [User Removed] }',
        'threshold: { count: 1, within: 1m, by: actor.login }',
        'channel: data-alerts',
        'severity: high',
        '',
      ].join('\n'),
    });

    expect(await problemLines(dir)).toEqual([
      'rules/x.yml:2: threshold.count: must be a whole number of at least 2',
      'rules/x.yml:2: threshold.by: must be a field path such as actor.id, resource.id, type or metadata.<field>',
      'rules/x.yml:3: channel: must be "#channel-name" or a channel ID like C0123ABCD',
      'rules/x.yml:4: severity: must be one of critical, warning, info',
    ]);
  });

  it('reports a duplicate rule id on the second file, at its id line, and keeps the first rule', async () => {
    const dir = await rulesDir({
      'a.yml': 'id: shared\nwhen: { type: [User Removed] }\nchannel: "#a"\n',
      'b.yml': '# second\nwhen: { type: [Source Deleted] }\nid: shared\nchannel: "#a"\n',
    });

    const { rules, problems } = await loadRules(dir);

    expect(problems.map((p) => formatProblem(p).replace(dir, 'rules'))).toEqual([
      `rules/b.yml:3: duplicate rule id "shared" (already defined in ${path.join(dir, 'a.yml')})`,
    ]);
    expect(rules.map((rule) => [rule.id, path.basename(rule.file)])).toEqual([['shared', 'a.yml']]);
  });

  it('reports a YAML syntax error at its line and skips the schema for that file', async () => {
    const dir = await rulesDir({ 'x.yml': 'id: x\nwhen: { type: [User Removed] }\nchannel: "#a\n' });

    expect(await problemLines(dir)).toEqual(['rules/x.yml:4: YAML syntax error: Missing closing "quote']);
  });

  it('reports duplicate YAML keys and a second document as syntax errors', async () => {
    const dir = await rulesDir({
      'a.yml': 'when: { type: [User Removed] }\nchannel: "#a"\nchannel: "#b"\n',
      'b.yml': 'when: { type: [User Removed] }\nchannel: "#a"\n---\nwhen: {}\n',
    });

    expect(await problemLines(dir)).toEqual([
      'rules/a.yml:3: YAML syntax error: Map keys must be unique',
      'rules/b.yml:3: YAML syntax error: a rule file holds one rule, but a second document (---) starts here',
    ]);
  });

  it('reports an empty file and a file whose id cannot come from its name', async () => {
    const dir = await rulesDir({ 'empty.yml': '# nothing yet\n', 'Bad Name.yml': 'when: {}\nchannel: "#a"\n' });

    expect(await problemLines(dir)).toEqual([
      'rules/Bad Name.yml:1: the rule id defaults to the file name "Bad Name", which is not a valid id: ' +
        'add an id or rename the file ' +
        '(an id must start with a lowercase letter or digit and use only a-z, 0-9, "-" and "_")',
      'rules/empty.yml:1: the file is empty; a rule needs at least when and channel',
    ]);
  });

  it('reports a directory that cannot be read, without a line', async () => {
    const missing = path.join(tmpdir(), 'audit-rules-that-do-not-exist');

    const { rules, problems } = await loadRules(missing);

    expect(rules).toEqual([]);
    expect(problems).toHaveLength(1);
    expect(formatProblem(problems[0]!)).toMatch(
      /^.*audit-rules-that-do-not-exist: cannot read the rules directory: ENOENT/,
    );
  });
});

describe('loadRuleSet', () => {
  it('refuses invalid rules with every problem in the error', async () => {
    const dir = await rulesDir({ 'x.yml': 'when: { type: [Nope] }\n' });

    const error = await loadRuleSet(dir).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(RuleProblemsError);
    expect((error as RuleProblemsError).problems).toHaveLength(2);
  });

  it('holds the rules of a valid directory', async () => {
    const dir = await rulesDir({ 'x.yml': 'when: {}\nchannel: "#a"\n' });

    const ruleSet = await loadRuleSet(dir);

    expect(ruleSet.current().map((rule) => rule.id)).toEqual(['x']);
  });
});

describe('the shipped rules', () => {
  it('all load without a problem', async () => {
    const { rules, problems } = await loadRules(SHIPPED_RULES);

    expect(problems.map(formatProblem)).toEqual([]);
    expect(rules.map((rule) => rule.id).sort()).toEqual([
      'destination-disabled-or-deleted',
      'destination-filter-deleted',
      'function-deleted',
      'mass-deletion',
      'run-and-sync-failures',
      'source-disabled-or-deleted',
      'token-changes',
      'tracking-plan-deleted',
      'user-removed',
      'warehouse-disabled',
    ]);
  });

  it('count every "… Deleted" type of the catalog toward mass deletion', async () => {
    const { rules } = await loadRules(SHIPPED_RULES);
    const deletedTypes = Object.values(CATALOG)
      .flat()
      .filter((type) => type.endsWith(' Deleted'));

    const massDeletion = rules.find((rule) => rule.id === 'mass-deletion');

    expect([...(massDeletion?.when.type ?? [])].sort()).toEqual([...deletedTypes].sort());
  });
});

/** A logger that keeps what it is told, in pino's (object, message) shape. */
function recordingLogger(): RuleLogger & { entries: { level: string; obj: object; msg: string }[] } {
  const entries: { level: string; obj: object; msg: string }[] = [];
  return {
    entries,
    info: (obj, msg) => entries.push({ level: 'info', obj, msg }),
    warn: (obj, msg) => entries.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => entries.push({ level: 'error', obj, msg }),
  };
}

/** Writes then renames, as editors do, so a reload never sees a half-written file. */
async function replaceFile(file: string, text: string): Promise<void> {
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.tmp`);
  await writeFile(temporary, text);
  await rename(temporary, file);
}

function rule(description: string): string {
  return `description: ${description}\nwhen: { type: [User Removed] }\nchannel: "#a"\n`;
}

/** Resolves with the next value handed to the returned callback, or rejects after `ms`. */
function nextCall<T>(ms: number): { callback: (value: T) => void; next: () => Promise<T> } {
  let waiting: ((value: T) => void) | undefined;
  const queued: T[] = [];
  return {
    callback: (value) => {
      if (waiting) {
        waiting(value);
        waiting = undefined;
      } else {
        queued.push(value);
      }
    },
    next: () => {
      if (queued.length > 0) return Promise.resolve(queued.shift()!);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`nothing within ${ms} ms`)), ms);
        waiting = (value) => {
          clearTimeout(timer);
          resolve(value);
        };
      });
    },
  };
}

describe('watchRules', () => {
  for (const mode of [
    { name: 'with fs.watch', fsWatch: true },
    { name: 'by polling alone', fsWatch: false },
  ]) {
    it(`picks up a valid edit ${mode.name} and keeps the last good set through an invalid one`, async () => {
      const dir = await rulesDir({ 'x.yml': rule('first') });
      const ruleSet = new RuleSet((await loadRules(dir)).rules);
      const logger = recordingLogger();
      const changes = nextCall<readonly Rule[]>(5_000);
      const rejections = nextCall<readonly RuleProblem[]>(5_000);
      const watcher = watchRules(
        dir,
        logger,
        (rules) => {
          ruleSet.replace(rules);
          changes.callback(rules);
        },
        { fsWatch: mode.fsWatch, pollMs: 300, debounceMs: 100, onInvalid: rejections.callback },
      );
      try {
        await replaceFile(path.join(dir, 'x.yml'), rule('second, edited'));
        await changes.next();
        expect(ruleSet.current().map((r) => r.description)).toEqual(['second, edited']);

        await replaceFile(path.join(dir, 'x.yml'), 'when: { type: [Warehouses Disbled] }\nchannel: "#a"\n');
        const problems = await rejections.next();
        expect(problems.map((p) => formatProblem(p).replace(dir, 'rules'))).toEqual([
          'rules/x.yml:1: when.type[0]: unknown event type "Warehouses Disbled", did you mean "Warehouses Disabled"?',
        ]);
        expect(ruleSet.current().map((r) => r.description)).toEqual(['second, edited']);
        expect(logger.entries.find((entry) => entry.level === 'warn')?.msg).toBe(
          'rule change rejected; keeping the last good rules',
        );

        // While x.yml is still invalid, a reload that sees only the new y.yml is rejected as a whole.
        await replaceFile(path.join(dir, 'y.yml'), rule('another file'));
        await replaceFile(path.join(dir, 'x.yml'), rule('third, fixed again'));
        await changes.next();
        expect(ruleSet.current().map((r) => r.description)).toEqual(['third, fixed again', 'another file']);
      } finally {
        watcher.close();
      }
    }, 20_000);
  }

  it('keeps working when the directory disappears, reporting it as a rejected change', async () => {
    const dir = await rulesDir({ 'x.yml': rule('first') });
    const logger = recordingLogger();
    const rejections = nextCall<readonly RuleProblem[]>(5_000);
    const watcher = watchRules(dir, logger, () => {}, { pollMs: 200, debounceMs: 50, onInvalid: rejections.callback });
    try {
      await rm(dir, { recursive: true, force: true });

      const problems = await rejections.next();

      expect(problems[0]?.message).toMatch(/^cannot read the rules directory: ENOENT/);
    } finally {
      watcher.close();
    }
  }, 20_000);
});
