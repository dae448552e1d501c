/** A temporary rules directory a test can write, edit and remove. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function rulesDir(files: Record<string, string>) {
  const dir = mkdtempSync(join(tmpdir(), 'audit-rules-'));
  const write = (name: string, text: string) => writeFileSync(join(dir, name), text);
  for (const [name, text] of Object.entries(files)) write(name, text);
  return { dir, write, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
