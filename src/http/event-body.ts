/** The body of POST /v1/events: one event or {"events": [...]}, checked whole before anything is stored. */
import {
  checkEventObjects,
  EVENT_OBJECTS,
  type IncomingEvent,
  incomingEventShape,
  MAX_EVENT_BYTES,
  MAX_EVENTS_PER_REQUEST,
  MAX_NESTING,
  nestedTooDeep,
  TOO_DEEP,
} from '../events.ts';
import { canonicalJsonWithin } from '../store/chain.ts';
import { badRequest, type ErrorDetail, issuePath, payloadTooLarge } from './errors.ts';

export interface IngestBody {
  events: IncomingEvent[];
  /**
   * The canonical JSON of the events' objects (actor, resource, changes, context, metadata), made while checking
   * them: the store hashes and inserts this text rather than serializing the objects again (see store/append.ts).
   */
  known: Map<object, string>;
}

/** Splits a POST body into events, enforcing the count and per-event size limits before validation. */
export function parseIngestBody(body: unknown): IngestBody {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw badRequest('body must be one event object or {"events": [...]}');
  }
  const isBatch = 'events' in body;
  const items = isBatch ? (body as { events: unknown }).events : [body];
  if (!Array.isArray(items))
    throw badRequest('events must be an array', [{ path: 'events', message: 'must be an array' }]);
  if (items.length === 0)
    throw badRequest('events must hold at least one event', [{ path: 'events', message: 'is empty' }]);
  if (items.length > MAX_EVENTS_PER_REQUEST) {
    throw payloadTooLarge(
      `a request may hold at most ${MAX_EVENTS_PER_REQUEST} events; this one holds ${items.length}`,
    );
  }
  const tooLarge: ErrorDetail[] = [];
  const invalid: ErrorDetail[] = [];
  const events: IncomingEvent[] = [];
  const known = new Map<object, string>();
  for (const [index, item] of items.entries()) {
    const checked = checkEvent(item, known);
    if ('event' in checked) events.push(checked.event);
    else if ('bytes' in checked) {
      const message = `event is ${checked.bytes} bytes; the limit is ${MAX_EVENT_BYTES} bytes (32 KB)`;
      tooLarge.push({ index, path: '(event)', message });
    } else for (const issue of checked.issues) invalid.push({ index, ...issue });
  }
  if (tooLarge.length)
    throw payloadTooLarge(`${tooLarge.length} event(s) exceed the 32 KB limit; nothing was stored`, tooLarge);
  if (invalid.length) {
    const first = invalid[0]!;
    throw badRequest(
      `${new Set(invalid.map((d) => d.index)).size} invalid event(s); nothing was stored ` +
        `(first: events[${first.index}].${first.path}: ${first.message})`,
      invalid,
    );
  }
  return { events, known };
}

/**
 * One event: its depth, then its size, then its shape, then whether Postgres can store its objects' text. One
 * canonical serialization of each top-level value serves the depth check (it stops at the limit), the size (the same
 * length as JSON.stringify's: only the key order differs), the storability check and the store, through `known`.
 */
function checkEvent(
  item: unknown,
  known: Map<object, string>,
): { event: IncomingEvent } | { bytes: number } | { issues: { path: string; message: string }[] } {
  const texts = new Map<object, string>();
  let length = 0;
  if (item !== null && typeof item === 'object' && !Array.isArray(item)) {
    length = 1;
    for (const [key, value] of Object.entries(item)) {
      // The event's values sit at level 2.
      const text = canonicalJsonWithin(value, MAX_NESTING - 1);
      if (text === undefined) return tooDeep(item);
      if (value !== null && typeof value === 'object') texts.set(value, text);
      length += JSON.stringify(key).length + text.length + 2;
    }
  } else {
    const text = canonicalJsonWithin(item, MAX_NESTING);
    if (text === undefined) return tooDeep(item);
    length = text.length;
  }
  // A UTF-16 unit is at most 3 bytes of UTF-8, so only a long event is measured exactly.
  if (length * 3 > MAX_EVENT_BYTES) {
    const bytes = Buffer.byteLength(JSON.stringify(item) ?? '');
    if (bytes > MAX_EVENT_BYTES) return { bytes };
  }
  const parsed = incomingEventShape.safeParse(item);
  const issues = parsed.success
    ? []
    : parsed.error.issues.map((issue) => ({
        path: issue.code === 'unrecognized_keys' ? issuePath([...issue.path, issue.keys[0]!]) : issuePath(issue.path),
        message: issue.message,
      }));
  // Only an object's values were serialized (anything else has no fields to check).
  const source = texts.size > 0 ? (item as Partial<Record<string, unknown>>) : {};
  for (const issue of checkEventObjects(source, texts)) {
    issues.push({ path: issuePath(issue.path), message: issue.message });
  }
  if (!parsed.success || issues.length > 0) return { issues };
  const event = parsed.data;
  const sent = item as Record<'actor' | 'resource', object>;
  // The shape keeps changes, context and metadata as sent; actor and resource are copies with the same keys and
  // values, so the same canonical text.
  known.set(event.actor, texts.get(sent.actor)!);
  known.set(event.resource, texts.get(sent.resource)!);
  for (const field of EVENT_OBJECTS) {
    const value = event[field];
    if (value) known.set(value, texts.get(value)!);
  }
  return { event };
}

function tooDeep(item: unknown): { issues: { path: string; message: string }[] } {
  return { issues: [{ path: issuePath(nestedTooDeep(item, MAX_NESTING) ?? []), message: TOO_DEEP }] };
}
