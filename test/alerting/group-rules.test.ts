/** A rule's `group` as rule files write it: read into the rule, and every mistake located as `file:line: message`. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { formatProblem, loadRules } from '../../src/alerting/rule-loader.ts';

const dirs: string[] = [];

async function rulesDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'audit-group-rules-'));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function problemLines(dir: string): Promise<string[]> {
  const { problems } = await loadRules(dir);
  return problems.map((problem) => formatProblem(problem).replace(dir, 'rules'));
}

describe('group in rule files', () => {
  it('reads `within` in milliseconds and `by` as written, and leaves `by` out when the file does', async () => {
    const dir = await rulesDir({
      'by-actor.yml': 'when: { type: [Source Disabled] }\ngroup: { within: 5m, by: actor.id }\nchannel: "#a"\n',
      'whole.yml': 'when: { type: [Source Deleted] }\ngroup:\n  within: 30s\nchannel: "#a"\n',
    });
    const { rules, problems } = await loadRules(dir);
    expect(problems).toEqual([]);
    expect(rules.find((r) => r.id === 'by-actor')!.group).toEqual({ withinMs: 300_000, by: 'actor.id' });
    expect(rules.find((r) => r.id === 'whole')!.group).toEqual({ withinMs: 30_000 });
  });

  it('locates a bad duration, a bad path, a missing within and a misspelt key', async () => {
    const dir = await rulesDir({
      'a.yml': 'when: { type: [Source Disabled] }\ngroup:\n  within: soon\n  by: actor.nickname\nchannel: "#a"\n',
      'b.yml': 'when: { type: [Source Disabled] }\ngroup: { byy: actor.id }\nchannel: "#a"\n',
      'c.yml': 'when: { type: [Source Disabled] }\ngroup: 5m\nchannel: "#a"\n',
    });
    expect(await problemLines(dir)).toEqual([
      'rules/a.yml:3: group.within: invalid duration "soon": ' +
        'use a whole number followed by s, m, h or d, e.g. 30s, 10m, 12h, 7d',
      'rules/a.yml:4: group.by: must be a field path such as actor.id, resource.id, type or metadata.<field>',
      'rules/b.yml:2: group: missing required field "within"',
      'rules/b.yml:2: group: unknown key "byy" (did you mean "by"?)',
      'rules/c.yml:2: group: must be a mapping, e.g. { within: 5m, by: actor.id }',
    ]);
  });
});
