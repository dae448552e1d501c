/**
 * Segment's own audit trail by push (SPEC section 11): Audit Forwarding sends each audit event into a Segment source
 * as a `track` call with `event: "Audit"`, and a Webhooks destination on that source posts it to POST /v1/segment.
 * This reads such a body (one call, an array, or `{"batch": […]}`) into the events POST /v1/events would store.
 */
import { z } from 'zod';
import { normaliseEventType } from '../catalog.ts';
import {
  type Actor,
  checkEventObjects,
  type IncomingEvent,
  incomingEventShape,
  MAX_EVENT_BYTES,
  MAX_EVENTS_PER_REQUEST,
  MAX_NESTING,
  nestedTooDeep,
  TOO_DEEP,
} from '../events.ts';
import { isRecord } from '../json.ts';
import { segmentAuditEventId } from './segment-ids.ts';

/** The event name Audit Forwarding gives every audit call; the audit type itself is in `properties.type`. */
export const AUDIT_EVENT_NAME = 'Audit';

/** Segment's actor for changes it made itself (a tracking plan inferring, a run failing). */
export const SEGMENT_SYSTEM_ACTOR = '__system__';

export interface PushProblem {
  /** The call's index in the body (0 for a single call). */
  index: number;
  /** Where in the call, as Segment sent it: `properties.details.resource_id`. */
  path: string;
  message: string;
}

export type SegmentPush =
  | {
      ok: true;
      events: IncomingEvent[];
      ignored: number;
      /** The canonical JSON of the events' objects, made while checking them, for the store (see store/append.ts). */
      known: Map<object, string>;
    }
  /** 400 for an invalid audit call, 413 for one over the limits: all or nothing, like /v1/events. */
  | { ok: false; status: 400 | 413; message: string; problems: PushProblem[] };

const required = (what: string) => ({
  error: (issue: { input?: unknown }) => (issue.input === undefined ? 'is required' : `must be ${what}`),
});

const optionalText = z.string(required('a string')).optional();

/** An id Segment may send as a number; stored as text like every id. */
const idText = z.union(
  [z.string(required('a string')).trim().min(1, 'must not be empty'), z.number()],
  required('a string'),
);

/**
 * What this service needs of an audit call. Everything else Segment sends (context, integrations, receivedAt…) is
 * left out of the parsed copy: stripping is cheaper than copying, and /v1/segment should cost what /v1/events does.
 */
const auditCallSchema = z.object({
  messageId: optionalText,
  timestamp: optionalText,
  originalTimestamp: optionalText,
  userId: z.string(required('a string')).nullish(),
  // Missing properties read as an empty object (see readAuditCall), so that the 400 names each missing field.
  properties: z.object(
    {
      type: z.string(required('a string')).trim().min(1, 'must not be empty'),
      workspace_id: optionalText,
      email: optionalText,
      // Checked field by field by detailsSchema, and kept whole (as sent) in the metadata.
      details: z.unknown().refine((value) => value === undefined || isRecord(value), 'must be a JSON object'),
    },
    required('a JSON object'),
  ),
});

/** The details this service reads; the rest of them go into the metadata unread. */
const detailsSchema = z.object({
  resource_type: z.string(required('a string')).trim().min(1, 'must not be empty'),
  resource_id: idText,
  target: z.unknown().optional(),
  subject: z.unknown().optional(),
  subject_type: z.unknown().optional(),
  subject_id: z.unknown().optional(),
  email: z.unknown().optional(),
});

type AuditCall = z.output<typeof auditCallSchema>;

type Sources = Record<string, string>;

/**
 * Splits and reads a POST /v1/segment body. Calls that are not audit calls (another event, an identify, a page, not
 * an object at all) are counted in `ignored`, never refused: a Webhooks destination sends whatever its source gets.
 */
export function parseSegmentPush(body: unknown): SegmentPush {
  const calls = Array.isArray(body)
    ? body
    : isRecord(body) && Array.isArray(body.batch)
      ? body.batch
      : isRecord(body)
        ? [body]
        : undefined;
  if (!calls) {
    const problem = {
      index: 0,
      path: '(body)',
      message: 'must be a track call, an array of them, or {"batch": [...]}',
    };
    return { ok: false, status: 400, message: `the body ${problem.message}`, problems: [problem] };
  }
  if (calls.length > MAX_EVENTS_PER_REQUEST) {
    const message = `a request may hold at most ${MAX_EVENTS_PER_REQUEST} calls; this one holds ${calls.length}`;
    return { ok: false, status: 413, message, problems: [] };
  }
  const events: IncomingEvent[] = [];
  const known = new Map<object, string>();
  const invalid: PushProblem[] = [];
  const tooLarge: PushProblem[] = [];
  let ignored = 0;
  for (const [index, call] of calls.entries()) {
    if (!isAuditCall(call)) {
      ignored += 1;
      continue;
    }
    // Before anything recurses into the call: JSON.stringify would overflow the stack on one nested thousands deep.
    const deep = nestedTooDeep(call, MAX_NESTING);
    if (deep) {
      invalid.push({ index, path: deep.map(String).join('.'), message: TOO_DEEP });
      continue;
    }
    const bytes = Buffer.byteLength(JSON.stringify(call));
    if (bytes > MAX_EVENT_BYTES) {
      tooLarge.push({
        index,
        path: '(call)',
        message: `call is ${bytes} bytes; the limit is ${MAX_EVENT_BYTES} bytes (32 KB)`,
      });
      continue;
    }
    const read = readAuditCall(call, index, known);
    if ('problems' in read) invalid.push(...read.problems);
    else events.push(read.event);
  }
  if (tooLarge.length) {
    const message = `${tooLarge.length} audit call(s) exceed the 32 KB limit; nothing was stored`;
    return { ok: false, status: 413, message, problems: tooLarge };
  }
  if (invalid.length) {
    const first = invalid[0]!;
    const count = new Set(invalid.map((problem) => problem.index)).size;
    const message =
      `${count} invalid audit call(s); nothing was stored ` +
      `(first: [${first.index}].${first.path}: ${first.message})`;
    return { ok: false, status: 400, message, problems: invalid };
  }
  return { ok: true, events, ignored, known };
}

/** A `track` call named `Audit`, as Audit Forwarding sends them; `type` may be left out, as in a bare track body. */
function isAuditCall(call: unknown): call is Record<string, unknown> {
  return isRecord(call) && call.event === AUDIT_EVENT_NAME && (call.type === undefined || call.type === 'track');
}

function readAuditCall(
  raw: Record<string, unknown>,
  index: number,
  known: Map<object, string>,
): { event: IncomingEvent } | { problems: PushProblem[] } {
  // Done here rather than with z.preprocess, which cost a tenth of reading a call (measured by the segment bench).
  const call = auditCallSchema.safeParse(raw.properties == null ? { ...raw, properties: {} } : raw);
  const rawDetails = isRecord(raw.properties) ? (raw.properties.details ?? {}) : {};
  // Details that are not an object at all are already named by the call's own issues.
  const details = detailsSchema.safeParse(isRecord(rawDetails) ? rawDetails : {});
  const problems = [
    ...(call.success ? [] : issuesAt(call.error.issues, [], index)),
    ...(details.success || !isRecord(rawDetails)
      ? []
      : issuesAt(details.error.issues, ['properties', 'details'], index)),
  ];
  if (!call.success || !details.success) return { problems };

  const event = toIncomingEvent(call.data, details.data, rawDetails as Record<string, unknown>);
  // The same validation every producer's event meets (lengths, times, storable text), named in Segment's terms. As on
  // /v1/events, the objects are checked on their canonical JSON, which the store then hashes and inserts as it is.
  const checked = incomingEventShape.safeParse(event);
  const issues = checked.success
    ? []
    : checked.error.issues.map((issue) => ({
        path: issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path,
        message: issue.message,
      }));
  const texts = new Map<object, string>();
  issues.push(...checkEventObjects(event, texts));
  if (checked.success && issues.length === 0) {
    for (const [value, text] of texts) known.set(value, text);
    return { event: checked.data };
  }
  const sources = sourcesOf(call.data, details.data);
  // A detail can reach the event twice (`target` is the resource's name and stays in the metadata): named once.
  const named = new Map<string, PushProblem>();
  for (const issue of issues) {
    const path = sourcePath(issue.path, sources);
    named.set(`${path}\u0000${issue.message}`, { index, path, message: issue.message });
  }
  return { problems: [...named.values()] };
}

/** Plain assignments rather than spreads: every pushed event takes this step (see the segment benchmark). */
function toIncomingEvent(call: AuditCall, details: AuditDetails, rawDetails: Record<string, unknown>): IncomingEvent {
  const { properties } = call;
  const { type } = normaliseEventType(properties.type);
  const resourceId = String(details.resource_id);
  const segmentWorkspaceId = properties.workspace_id;
  // The derived id needs the time Segment recorded, which is originalTimestamp when both are sent.
  const keyTime = call.originalTimestamp ?? call.timestamp;
  const derivedId =
    keyTime === undefined
      ? undefined
      : segmentAuditEventId({ segmentWorkspaceId: segmentWorkspaceId ?? '', type, resourceId, timestamp: keyTime });

  const metadata: Record<string, unknown> = { ...rawDetails, segmentType: properties.type };
  if (segmentWorkspaceId !== undefined) metadata.segmentWorkspaceId = segmentWorkspaceId;
  if (call.messageId !== undefined) metadata.segmentMessageId = call.messageId;
  // Revert addresses a filter through its destination (SPEC section 7).
  if (typeof rawDetails.destination_id === 'string') metadata.destinationId = rawDetails.destination_id;

  const resource: IncomingEvent['resource'] = { type: details.resource_type, id: resourceId };
  if (typeof details.target === 'string' && details.target !== '') resource.name = details.target;
  const event: IncomingEvent = { type, actor: actorOf(call, details), resource, metadata };
  // An unreadable time keeps Segment's id; the timestamp check then names the field.
  const id = derivedId ?? call.messageId;
  if (id !== undefined) event.id = id;
  const timestamp = call.timestamp ?? call.originalTimestamp;
  if (timestamp !== undefined) event.timestamp = timestamp;
  return event;
}

type AuditDetails = z.output<typeof detailsSchema>;

/** Where the actor comes from: `details.subject`, else `details.subject_id`, else `userId`. */
function actorSource(details: AuditDetails): 'subject' | 'subject_id' | 'userId' {
  if (typeof details.subject === 'string' && details.subject.trim() !== '') return 'subject';
  if (typeof details.subject_id === 'string' && details.subject_id.trim() !== '') return 'subject_id';
  return 'userId';
}

function emailOf(call: AuditCall, details: AuditDetails): string | undefined {
  if (typeof call.properties.email === 'string' && call.properties.email !== '') return call.properties.email;
  return typeof details.email === 'string' && details.email !== '' ? details.email : undefined;
}

/**
 * `details.subject` (`users/<id>` is a user), else `details.subject_type`/`subject_id`, else `userId`; Segment's
 * `__system__` is a system actor. A user's email comes from `properties.email` (which Segment's own forwarding
 * function adds) or the details, when given.
 */
function actorOf(call: AuditCall, details: AuditDetails): Actor {
  let actor: Actor;
  switch (actorSource(details)) {
    case 'subject':
      actor = subjectActor((details.subject as string).trim());
      break;
    case 'subject_id': {
      const id = (details.subject_id as string).trim();
      const kind = typeof details.subject_type === 'string' ? details.subject_type.toLowerCase() : 'user';
      actor = {
        type: id === SEGMENT_SYSTEM_ACTOR || kind === 'system' ? 'system' : kind.includes('token') ? 'token' : 'user',
        id,
      };
      break;
    }
    case 'userId': {
      const id = call.userId?.trim() ?? '';
      actor = id === SEGMENT_SYSTEM_ACTOR ? { type: 'system', id } : { type: 'user', id };
    }
  }
  const email = actor.type === 'user' ? emailOf(call, details) : undefined;
  if (email !== undefined) actor.email = email;
  return actor;
}

/** `users/MNxxtIRCbe` → that user; `tokens/…` or `access-tokens/…` → a token; `__system__` → Segment itself. */
function subjectActor(subject: string): Actor {
  if (subject === SEGMENT_SYSTEM_ACTOR) return { type: 'system', id: subject };
  const slash = subject.indexOf('/');
  const kind = slash > 0 ? subject.slice(0, slash).toLowerCase() : '';
  const id = slash > 0 ? subject.slice(slash + 1) : subject;
  if (kind.includes('token')) return { type: 'token', id };
  return { type: 'user', id };
}

/** Which field of the call each field of the mapped event came from, to name it in a 400. */
function sourcesOf(call: AuditCall, details: AuditDetails): Sources {
  const sources: Sources = {
    id: 'messageId',
    type: 'properties.type',
    timestamp: call.timestamp !== undefined ? 'timestamp' : 'originalTimestamp',
    'resource.type': 'properties.details.resource_type',
    'resource.id': 'properties.details.resource_id',
    'resource.name': 'properties.details.target',
    'actor.id': {
      subject: 'properties.details.subject',
      subject_id: 'properties.details.subject_id',
      userId: 'userId',
    }[actorSource(details)],
  };
  if (emailOf(call, details) !== undefined) {
    sources['actor.email'] =
      typeof call.properties.email === 'string' && call.properties.email !== ''
        ? 'properties.email'
        : 'properties.details.email';
  }
  return sources;
}

/** The field of the call an issue on the mapped event is about: `actor.id` → `properties.details.subject`. */
function sourcePath(path: readonly PropertyKey[], sources: Sources): string {
  const parts = path.map(String);
  for (let length = parts.length; length > 0; length -= 1) {
    const source = sources[parts.slice(0, length).join('.')];
    if (source) return [source, ...parts.slice(length)].join('.');
  }
  if (parts[0] === 'metadata') return ['properties', 'details', ...parts.slice(1)].join('.');
  return parts.join('.') || '(call)';
}

function issuesAt(issues: readonly z.core.$ZodIssue[], prefix: readonly string[], index: number): PushProblem[] {
  return issues.map((issue) => {
    const path = issue.code === 'unrecognized_keys' ? [...issue.path, issue.keys[0]!] : issue.path;
    return { index, path: [...prefix, ...path.map(String)].join('.') || '(call)', message: issue.message };
  });
}
