/**
 * The documentation in docs/ keeps up with the code: every setting, catalog type and revertible type is described,
 * and every link between the pages (and to a heading) leads somewhere.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EVENT_TYPES, REVERT_MAP } from '../src/catalog.ts';
import { ENV_VARIABLES } from '../src/config.ts';

const read = (file: string) => readFileSync(file, 'utf8');
const pages = [
  'README.md',
  ...readdirSync('docs')
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens. */
function anchors(markdown: string): Set<string> {
  const found = new Set<string>();
  for (const [, heading] of markdown.matchAll(/^#{1,6} (.+)$/gm)) {
    found.add(
      heading!
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N} _-]/gu, '')
        .replace(/ /g, '-'),
    );
  }
  return found;
}

describe('docs', () => {
  it('has a page per topic, each linked from the README', () => {
    const readme = read('README.md');
    for (const page of ['api', 'rules', 'catalog', 'slack', 'forwarding', 'operations']) {
      expect(existsSync(`docs/${page}.md`), page).toBe(true);
      expect(readme).toContain(`docs/${page}.md`);
    }
  });

  it('describes every environment variable the service reads, in the operations guide', () => {
    const operations = read('docs/operations.md');
    expect(
      ENV_VARIABLES.filter((name) => !operations.includes(`| \`${name}\``) && !operations.includes(`/ \`${name}\``)),
    ).toEqual([]);
  });

  it('lists every catalog type and every revertible type', () => {
    const catalog = read('docs/catalog.md');
    expect(EVENT_TYPES.filter((type) => !new RegExp(`(\\| |, )${type}( \\||,)`).test(catalog))).toEqual([]);
    expect(Object.keys(REVERT_MAP).filter((type) => !catalog.includes(`| ${type} |`))).toEqual([]);
  });

  it('links only to files and headings that exist', () => {
    const broken: string[] = [];
    for (const page of pages) {
      for (const [, target] of read(page).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^(https?:|mailto:)/.test(target!)) continue;
        const [path, anchor] = target!.split('#') as [string, string | undefined];
        const file = path ? join(dirname(page), path) : page;
        if (!existsSync(file)) broken.push(`${page}: ${target} (no file ${file})`);
        else if (anchor && file.endsWith('.md') && !anchors(read(file)).has(anchor))
          broken.push(`${page}: ${target} (no heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('never sends readers to material they do not have', () => {
    for (const page of pages) expect(read(page), page).not.toMatch(/shared folder|SPEC\.md/);
  });
});
