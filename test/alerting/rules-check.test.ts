import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI the way `npm run rules:check` does, from the repository root. */
function rulesCheck(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/rules-check.ts', ...args], {
      cwd: REPO,
      env: { ...process.env, RULES_DIR: undefined, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

let badDir: string;

beforeAll(async () => {
  badDir = await mkdtemp(path.join(tmpdir(), 'audit-rules-check-'));
  await writeFile(
    path.join(badDir, 'mass-deletion.yml'),
    [
      '# Too many deletions.',
      'id: mass-deletion',
      'when:',
      '  type: [Source Deleted, Warehouses Delted]',
      '  resource: { name: { regex: "[" } }',
      'threshold: { count: 5, within: 10mins, by: actor.id }',
      'chanel: "#data-alerts"',
      '',
    ].join('\n'),
  );
  await writeFile(path.join(badDir, 'other.yml'), 'id: mass-deletion\nwhen: {}\nchannel: "#data-audit"\n');
  await writeFile(path.join(badDir, 'broken.yaml'), 'when: { type: [User Removed]\nchannel: "#a"\n');
});

afterAll(async () => {
  await rm(badDir, { recursive: true, force: true });
});

describe('rules:check', () => {
  it('prints file:line: message for every problem to stderr and exits 1', async () => {
    const { code, stdout, stderr } = await rulesCheck([badDir]);

    expect(code).toBe(1);
    expect(stdout).toBe('');
    const file = (name: string) => path.join(badDir, name);
    expect(stderr.split('\n')).toEqual([
      `${file('broken.yaml')}:2: YAML syntax error: ` +
        'Flow map in block collection must be sufficiently indented and end with a }',
      `${file('mass-deletion.yml')}:2: missing required field "channel"`,
      `${file('mass-deletion.yml')}:4: when.type[1]: unknown event type "Warehouses Delted", ` +
        'did you mean "Warehouses Deleted"?',
      `${file('mass-deletion.yml')}:5: when.resource.name.regex: invalid regex "[": Unterminated character class`,
      `${file('mass-deletion.yml')}:6: threshold.within: invalid duration "10mins": ` +
        'use a whole number followed by s, m, h or d, e.g. 30s, 10m, 12h, 7d',
      `${file('mass-deletion.yml')}:7: unknown key "chanel" (did you mean "channel"?)`,
      `${file('other.yml')}:1: duplicate rule id "mass-deletion" (already defined in ${file('mass-deletion.yml')})`,
      '',
    ]);
  });

  it('reports a duplicate id on the second file, at the line of its id', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'audit-rules-check-'));
    try {
      await writeFile(path.join(dir, 'a.yml'), 'id: same\nwhen: {}\nchannel: "#a"\n');
      await writeFile(path.join(dir, 'b.yml'), '# copy of a\nid: same\nwhen: {}\nchannel: "#a"\n');

      const { code, stderr } = await rulesCheck([dir]);

      expect(code).toBe(1);
      expect(stderr).toBe(
        `${path.join(dir, 'b.yml')}:2: duplicate rule id "same" (already defined in ${path.join(dir, 'a.yml')})\n`,
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('accepts Segment’s wire names, suggesting the catalog name in a note on stdout, and exits 0', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'audit-rules-check-'));
    try {
      await writeFile(
        path.join(dir, 'wire.yml'),
        'when:\n  type:\n    - Warehouse Disabled\n    - Source Disabled\n    - integration modified\nchannel: "#a"\n',
      );

      const { code, stdout, stderr } = await rulesCheck([dir]);

      expect(stderr).toBe('');
      expect(stdout.split('\n')).toEqual([
        `${path.join(dir, 'wire.yml')}:3: note: ` +
          `"Warehouse Disabled" is Segment's wire name for "Warehouses Disabled"; ` +
          'the rule matches both (write "Warehouses Disabled" to silence this note)',
        `${path.join(dir, 'wire.yml')}:5: note: ` +
          `"integration modified" is Segment's wire name for "Integrations Modified"; ` +
          'the rule matches both (write "Integrations Modified" to silence this note)',
        `ok 1 rules in ${dir}`,
        '',
      ]);
      expect(code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('accepts the shipped rules directory and exits 0', async () => {
    const { code, stdout, stderr } = await rulesCheck(['rules']);

    expect(stderr).toBe('');
    expect(stdout).toBe('ok 10 rules in rules\n');
    expect(code).toBe(0);
  });

  it('checks RULES_DIR, then ./rules, when no directory is given', async () => {
    const fromEnv = await rulesCheck([], { RULES_DIR: badDir });
    const byDefault = await rulesCheck([]);

    expect(fromEnv.code).toBe(1);
    expect(byDefault).toEqual({ code: 0, stdout: 'ok 10 rules in ./rules\n', stderr: '' });
  });

  it('exits 1 when the directory does not exist', async () => {
    const missing = path.join(tmpdir(), 'audit-rules-check-missing');

    const { code, stderr } = await rulesCheck([missing]);

    expect(code).toBe(1);
    expect(stderr).toMatch(new RegExp(`^${missing}: cannot read the rules directory: ENOENT`));
  });
});
