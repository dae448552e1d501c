/** The per-workspace hash chain (SPEC section 8): hash = sha256(prevHash + canonicalJson(event)). */
import { createHash } from 'node:crypto';
import type { StoredEvent } from '../events.ts';

/** The prevHash of a workspace's first event. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * JSON with object keys sorted at every depth (by UTF-16 code unit, as Array#sort does) and no
 * whitespace, so equal content hashes equally. Written as loops: it runs on every ingested event.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      out += value[i] === undefined ? 'null' : canonicalJson(value[i]);
    }
    return `${out}]`;
  }
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const item = object[key];
    if (item === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += `${JSON.stringify(key)}:${canonicalJson(item)}`;
  }
  return `${out}}`;
}

/** Everything stored about an event except its own hash. */
export type ChainedFields = Omit<StoredEvent, 'hash'>;

/**
 * canonicalJson of an event split around its seq, the one field known only under the workspace lock:
 * the expensive part is done before the lock and `(seq) => string` is a concatenation.
 */
export function canonicalTemplate(fields: Omit<ChainedFields, 'seq'>): (seq: number) => string {
  const keys = [...Object.keys(fields).filter((key) => fields[key as keyof typeof fields] !== undefined), 'seq'].sort();
  const at = keys.indexOf('seq');
  const part = (key: string) => `${JSON.stringify(key)}:${canonicalJson(fields[key as keyof typeof fields])}`;
  const head = `{${keys.slice(0, at).map(part).join(',')}${at > 0 ? ',' : ''}"seq":`;
  const rest = keys.slice(at + 1).map(part).join(',');
  const tail = `${rest ? `,${rest}` : ''}}`;
  return (seq) => `${head}${seq}${tail}`;
}

export function hashLink(prevHash: string, canonical: string): string {
  return createHash('sha256').update(prevHash).update(canonical).digest('hex');
}

export function chainHash(prevHash: string, event: ChainedFields): string {
  return hashLink(prevHash, canonicalJson(event));
}
