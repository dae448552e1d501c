/** The audit event as producers send it (validated) and as the store hands it back. */
import { z } from 'zod';
import { canonicalJsonWithin } from './store/chain.ts';

export const ACTOR_TYPES = ['user', 'token', 'system'] as const;
export type ActorType = (typeof ACTOR_TYPES)[number];

/** Limits from SPEC section 3. */
export const MAX_EVENT_BYTES = 32 * 1024;
export const MAX_EVENTS_PER_REQUEST = 1000;
export const MAX_REQUEST_BYTES = 1024 * 1024;

/** SPEC section 3: objects (and arrays) nest at most this deep, the event itself being level 1. */
export const MAX_NESTING = 32;

/** SPEC section 3: an event's `timestamp` lies between the Unix epoch and 24 hours after receipt. */
export const EARLIEST_TIMESTAMP_MS = Date.UTC(1970, 0, 1);
export const MAX_TIMESTAMP_AHEAD_MS = 24 * 3_600_000;

/**
 * Postgres refuses NUL in text and jsonb, and lone UTF-16 surrogates in jsonb; both would otherwise
 * surface as a 500 halfway through a batch, so they are rejected up front with the field's path.
 */
const required = {
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : 'must be a string'),
};

/**
 * One check for all a text field must be, each problem its own issue as before: four checks of their own cost twice
 * as much, and every ingested event has eight such fields (measured with the ingest benchmark's events).
 */
const checkedText = (max: number, nonEmpty: boolean) =>
  z.string(required).superRefine((text, ctx) => {
    if (text.length > max) ctx.addIssue({ code: 'custom', message: `must be at most ${max} characters` });
    if (text.includes('\u0000')) ctx.addIssue({ code: 'custom', message: 'must not contain the NUL character' });
    if (!text.isWellFormed()) ctx.addIssue({ code: 'custom', message: 'must be valid UTF-16 (no lone surrogates)' });
    if (nonEmpty && text.trim().length === 0) ctx.addIssue({ code: 'custom', message: 'must not be empty' });
  });

const storableText = (max: number) => checkedText(max, false);

const requiredText = (max: number) => checkedText(max, true);

/**
 * The path to the first object or array nested deeper than `maxDepth` levels (`value` being level 1).
 * JSON.stringify, canonicalJson and the storable-text walk all recurse, and a body nested thousands
 * deep would overflow their stack, so this first pass uses a stack of its own; it runs on every event,
 * so it pushes only objects and allocates nothing else. Only a refused value is walked again, to name it.
 */
export function nestedTooDeep(value: unknown, maxDepth: number): (string | number)[] | undefined {
  const stack: object[] = [];
  const depths: number[] = [];
  if (value !== null && typeof value === 'object') {
    stack.push(value);
    depths.push(1);
  }
  while (stack.length > 0) {
    const node = stack.pop()!;
    const depth = depths.pop()!;
    if (depth > maxDepth) return pathToDepth(value, maxDepth + 1);
    if (Array.isArray(node)) {
      for (const item of node) {
        if (item !== null && typeof item === 'object') {
          stack.push(item as object);
          depths.push(depth + 1);
        }
      }
    } else {
      for (const key in node) {
        const item = (node as Record<string, unknown>)[key];
        if (item !== null && typeof item === 'object') {
          stack.push(item);
          depths.push(depth + 1);
        }
      }
    }
  }
  return undefined;
}

/** The path to the first object or array at `depth`, in document order; recursion at most `depth` deep. */
function pathToDepth(value: unknown, depth: number): (string | number)[] | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  if (depth === 1) return [];
  const entries: [string | number, unknown][] = Array.isArray(value) ? [...value.entries()] : Object.entries(value);
  for (const [key, item] of entries) {
    const rest = pathToDepth(item, depth - 1);
    if (rest) return [key, ...rest];
  }
  return undefined;
}

export const TOO_DEEP = `nests deeper than ${MAX_NESTING} levels`;

const jsonObject = z.record(z.string(), z.unknown(), 'must be a JSON object').superRefine((value, ctx) => {
  // These objects sit at level 2 of the event.
  const deep = nestedTooDeep(value, MAX_NESTING - 1);
  if (deep) {
    ctx.addIssue({ code: 'custom', path: deep, message: TOO_DEEP });
    return;
  }
  for (const issue of unstorableIn(value, JSON.stringify(value))) ctx.addIssue({ code: 'custom', ...issue });
});

/** The free-form objects of an event, checked on their canonical JSON (see checkEventObjects). */
export const EVENT_OBJECTS = ['changes', 'context', 'metadata'] as const;

/**
 * What the store would refuse in an event's `changes`, `context` and `metadata`: nesting past the limit, NUL, lone
 * surrogates (paths from the field on). Each object's canonical JSON is the check's input and is kept in `texts`, for
 * the store to hash and insert as it is (see store/append.ts); a text already there is used rather than made again.
 */
export function checkEventObjects(
  source: Partial<Record<string, unknown>>,
  texts: Map<object, string>,
): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  for (const field of EVENT_OBJECTS) {
    const value = source[field];
    if (value === null || typeof value !== 'object') continue;
    // These objects sit at level 2 of the event.
    const text = texts.get(value) ?? canonicalJsonWithin(value, MAX_NESTING - 1);
    if (text === undefined) {
      issues.push({ path: [field, ...(nestedTooDeep(value, MAX_NESTING - 1) ?? [])], message: TOO_DEEP });
      continue;
    }
    texts.set(value, text);
    for (const issue of unstorableIn(value, text))
      issues.push({ path: [field, ...issue.path], message: issue.message });
  }
  return issues;
}

/** Only the shape: see incomingEventShape. */
const plainObject = z.custom<JsonObject>(
  (value) => value !== null && typeof value === 'object' && !Array.isArray(value),
  'must be a JSON object',
);

/**
 * What in `value` Postgres cannot store (NUL, lone surrogates), by path, given its JSON text. JSON writes both as \u
 * escapes, so one regex over the text clears almost every object; the walk that names the path runs only on a match.
 */
export function unstorableIn(value: unknown, json: string): { path: (string | number)[]; message: string }[] {
  return /\\u(0000|d[89a-f])/i.test(json) ? [...unstorableJson(value, [])] : [];
}

function* unstorableJson(
  value: unknown,
  path: (string | number)[],
): Generator<{ path: (string | number)[]; message: string }> {
  if (typeof value === 'string') {
    if (value.includes('\u0000')) yield { path, message: 'must not contain the NUL character' };
    else if (!value.isWellFormed()) yield { path, message: 'must be valid UTF-16 (no lone surrogates)' };
  } else if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) yield* unstorableJson(item, [...path, i]);
  } else if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      if (key.includes('\u0000') || !key.isWellFormed())
        yield { path: [...path, key], message: 'key must be storable text' };
      yield* unstorableJson(item, [...path, key]);
    }
  }
}

const isoDateTime = z.iso.datetime({ offset: true });

/**
 * The range keeps out years 0000–0099 (which Postgres stores but its text form reads back as 19xx in
 * JavaScript) and years past 9999 (which Postgres refuses): both would break the chain and paging.
 */
const eventTimestamp = z.string('must be a string').superRefine((text, ctx) => {
  if (!isoDateTime.safeParse(text).success) {
    ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 date-time, e.g. 2026-11-25T10:00:00.000Z' });
    return;
  }
  const ms = Date.parse(text);
  if (!(ms >= EARLIEST_TIMESTAMP_MS && ms <= Date.now() + MAX_TIMESTAMP_AHEAD_MS)) {
    ctx.addIssue({ code: 'custom', message: 'must lie between 1970-01-01T00:00:00Z and 24 hours after receipt' });
  }
});

function eventSchema(object: z.ZodType<JsonObject>) {
  return z.strictObject({
    id: requiredText(200).optional(),
    type: requiredText(200),
    timestamp: eventTimestamp.optional(),
    actor: z.strictObject({
      type: z.enum(ACTOR_TYPES, { message: `must be one of ${ACTOR_TYPES.join(', ')}` }),
      id: requiredText(256),
      name: storableText(512).optional(),
      email: storableText(320).optional(),
    }),
    resource: z.strictObject({
      type: requiredText(200),
      id: requiredText(256),
      name: storableText(512).optional(),
    }),
    changes: object.optional(),
    context: object.optional(),
    metadata: object.optional(),
  });
}

/** An event as a producer sends it: the whole check. */
export const incomingEventSchema = eventSchema(jsonObject);

/**
 * The same, but `changes`, `context` and `metadata` are only checked to be objects, and kept as sent (not copied): for
 * a caller that checks their depth and storability itself, on the canonical JSON it makes of them anyway
 * (ingest/event-body.ts).
 */
export const incomingEventShape = eventSchema(plainObject);

export type IncomingEvent = z.infer<typeof incomingEventSchema>;

export interface Actor {
  type: ActorType;
  id: string;
  name?: string;
  email?: string;
}

export interface Resource {
  type: string;
  id: string;
  name?: string;
}

export type JsonObject = Record<string, unknown>;

/** An event as stored: the producer's event plus what the store adds. */
export interface StoredEvent {
  id: string;
  workspaceId: string;
  seq: number;
  type: string;
  category: string;
  timestamp: string;
  receivedAt: string;
  actor: Actor;
  resource: Resource;
  changes: JsonObject | null;
  context: JsonObject | null;
  metadata: JsonObject | null;
  hash: string;
}
