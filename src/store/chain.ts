/** The per-workspace hash chain (SPEC section 8): hash = sha256(prevHash + canonicalJson(event)). */
import { hash } from 'node:crypto';
import type { StoredEvent } from '../events.ts';

/** The prevHash of a workspace's first event. */
export const GENESIS_HASH = '0'.repeat(64);

/**
 * JSON with object keys sorted at every depth (by UTF-16 code unit, as Array#sort does) and no
 * whitespace, so equal content hashes equally. Written as loops: it runs on every ingested event.
 */
export function canonicalJson(value: unknown): string {
  return write(value, Number.POSITIVE_INFINITY)!;
}

/**
 * canonicalJson, or undefined when `value` nests objects or arrays deeper than `maxDepth` levels (`value` itself
 * being level 1). The recursion stops there, so a body nested thousands deep cannot overflow the stack: /v1/events
 * makes this one pass serve as its depth check, its size check and its storability check (see ingest/event-body.ts).
 */
export function canonicalJsonWithin(value: unknown, maxDepth: number): string | undefined {
  return write(value, maxDepth);
}

function write(value: unknown, levelsLeft: number): string | undefined {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (levelsLeft < 1) return undefined;
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const item = value[i] === undefined ? 'null' : write(value[i], levelsLeft - 1);
      if (item === undefined) return undefined;
      out += i > 0 ? `,${item}` : item;
    }
    return `${out}]`;
  }
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object).sort();
  let out = '{';
  for (const key of keys) {
    const item = object[key];
    if (item === undefined) continue;
    const text = write(item, levelsLeft - 1);
    if (text === undefined) return undefined;
    out += `${out.length > 1 ? ',' : ''}${JSON.stringify(key)}:${text}`;
  }
  return `${out}}`;
}

/** Everything stored about an event except its own hash. */
export type ChainedFields = Omit<StoredEvent, 'hash'>;

/** What only the workspace lock decides: the seq, the receipt time, and the timestamp when it defaults to it. */
export interface LateFields {
  seq: number;
  receivedAt: string;
  timestamp: string;
}

/** What is known of an event before the workspace lock: all but seq and receivedAt, and maybe no timestamp yet. */
export type EarlyFields = Omit<ChainedFields, 'seq' | 'receivedAt' | 'timestamp'> & { timestamp?: string };

/**
 * canonicalJson of an event, cut around the fields known only under the workspace lock, so that under it the
 * canonical form is a concatenation: `head` receivedAt `mid` seq `tail`, and when the timestamp defaults to the
 * receipt time, receivedAt `end` after that.
 */
export interface CanonicalTemplate {
  head: string;
  mid: string;
  tail: string;
  /** Present when the event has no timestamp of its own. */
  end?: string;
}

/**
 * The template of an event's canonical form. An event's keys are fixed, so their sorted order is written out here
 * rather than sorted for every event (test/store/canonical.test.ts checks it against canonicalJson). `known` holds the
 * canonical text of objects serialized already (by /v1/events while validating), which is then not made again.
 */
export function canonicalTemplate(fields: EarlyFields, known?: ReadonlyMap<object, string>): CanonicalTemplate {
  // Every field named, so that a field added to StoredEvent fails to compile here rather than hash wrongly.
  const { actor, category, changes, context, id, metadata, resource, timestamp, type, workspaceId, ...rest } = fields;
  const none: Record<string, never> = rest;
  void none;
  const text = (value: object | null) => canonicalOf(value, known);
  // Joined rather than concatenated: a template waits for the lock, and a concatenation is a tree of string pieces
  // (a rope) for the garbage collector to copy while it waits, where a join is one flat string (measured: with ropes
  // the GC time of the ingest path grew by a quarter or more).
  const head = [
    '{"actor":',
    text(actor),
    ',"category":',
    JSON.stringify(category),
    ',"changes":',
    text(changes),
    ',"context":',
    text(context),
    ',"id":',
    JSON.stringify(id),
    ',"metadata":',
    text(metadata),
    ',"receivedAt":"',
  ].join('');
  const mid = ['","resource":', text(resource), ',"seq":'].join('');
  const after = ['"type":', JSON.stringify(type), ',"workspaceId":', JSON.stringify(workspaceId), '}'].join('');
  // The times are ISO strings from toISOString, which need no escaping.
  if (timestamp === undefined) return { head, mid, tail: ',"timestamp":"', end: `",${after}` };
  return { head, mid, tail: [',"timestamp":"', timestamp, '",', after].join('') };
}

/** canonicalJson of an event's object (or null), taken from `known` when it was made already. */
export function canonicalOf(value: object | null, known?: ReadonlyMap<object, string>): string {
  return value === null ? 'null' : (known?.get(value) ?? canonicalJson(value));
}

/** The canonical form the template stands for, given what the lock decided. */
export function fillTemplate(template: CanonicalTemplate, seq: number, receivedAt: string): string {
  const { head, mid, tail, end } = template;
  return end === undefined
    ? `${head}${receivedAt}${mid}${seq}${tail}`
    : `${head}${receivedAt}${mid}${seq}${tail}${receivedAt}${end}`;
}

export function hashLink(prevHash: string, canonical: string): string {
  // The one-shot digest: a Hash object per event cost more than the hashing (measured on the ingest path).
  return hash('sha256', prevHash + canonical);
}

export function chainHash(prevHash: string, event: ChainedFields): string {
  return hashLink(prevHash, canonicalJson(event));
}
