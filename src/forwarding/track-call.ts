/**
 * A stored audit event as a Segment `track` call (SPEC section 9), serialised under the Tracking API's 32 KB per call.
 */
import { createHash } from 'node:crypto';
import type { StoredEvent } from '../events.ts';

/**
 * Segment refuses a call over 32 KB with a 400 that would fail its whole batch. The limit is stated in KB
 * without saying 1000 or 1024, so calls are kept under the smaller reading.
 */
export const MAX_CALL_BYTES = 32_000;

/** The producer's free-form objects, the only parts of an event that can be large; trimmed largest first. */
const TRIMMABLE = ['changes', 'context', 'metadata'] as const;
type Trimmable = (typeof TRIMMABLE)[number];

export interface SerialisedCall {
  json: string;
  bytes: number;
  /** Which of changes, context and metadata were replaced to fit, in the order they were. */
  trimmed: Trimmable[];
}

/**
 * The call's messageId. Segment de-duplicates on messageId across every workspace and source for about a day, so the
 * bare event id would drop the second of two workspaces' events with equal ids (producers choose ids). A hash of
 * workspace and id is unique to the event, the same on every resend (so a resent batch is still harmless), and 76
 * characters whatever the lengths of both, under the 100 Segment accepts.
 */
export function trackMessageId(workspaceId: string, eventId: string): string {
  return `audit-event-${createHash('sha256')
    .update(JSON.stringify([workspaceId, eventId]))
    .digest('hex')}`;
}

export function trackCall(event: StoredEvent): Record<string, unknown> {
  return {
    type: 'track',
    event: event.type,
    userId: event.actor.id,
    messageId: trackMessageId(event.workspaceId, event.id),
    timestamp: event.timestamp,
    properties: {
      actor: event.actor,
      resource: event.resource,
      ...(event.changes && { changes: event.changes }),
      ...(event.context && { context: event.context }),
      ...(event.metadata && { metadata: event.metadata }),
      category: event.category,
      workspace: event.workspaceId,
      // messageId is derived from it (and the workspace); here it is as the API and verify show it.
      eventId: event.id,
    },
    context: { library: { name: 'audit-trail' } },
  };
}

/**
 * The call as JSON under `maxBytes`. An event is never dropped for its size: while the call is too big, the largest
 * of changes, context and metadata is replaced by `{ trimmed: true, bytes: N }` and `properties.auditTrailTrimmed`
 * lists what was cut, so the event still arrives (type, actor, resource, time) and says where to find the rest.
 */
export function serialiseTrackCall(event: StoredEvent, maxBytes = MAX_CALL_BYTES): SerialisedCall {
  const call = trackCall(event);
  let json = JSON.stringify(call);
  let bytes = Buffer.byteLength(json);
  if (bytes <= maxBytes) return { json, bytes, trimmed: [] };

  const properties = call.properties as Record<string, unknown>;
  const trimmed: Trimmable[] = [];
  const sizes = new Map<Trimmable, number>();
  for (const field of TRIMMABLE) {
    if (properties[field] !== undefined) sizes.set(field, Buffer.byteLength(JSON.stringify(properties[field])));
  }
  while (bytes > maxBytes && sizes.size > 0) {
    const [largest, size] = [...sizes].reduce((a, b) => (b[1] > a[1] ? b : a));
    sizes.delete(largest);
    properties[largest] = { trimmed: true, bytes: size };
    trimmed.push(largest);
    properties.auditTrailTrimmed = trimmed;
    json = JSON.stringify(call);
    bytes = Buffer.byteLength(json);
  }
  if (bytes > maxBytes) {
    // Everything else is capped at ingest (names 512 characters, ids 256), so only a row written some other way
    // gets here: it is still sent, as the bare event with its properties cut.
    call.properties = { category: event.category, workspace: event.workspaceId, auditTrailTrimmed: ['properties'] };
    json = JSON.stringify(call);
    bytes = Buffer.byteLength(json);
    if (bytes > maxBytes)
      throw new Error(`event ${event.id} is ${bytes} bytes as a track call even without its properties`);
    return { json, bytes, trimmed: [...trimmed] };
  }
  return { json, bytes, trimmed };
}
