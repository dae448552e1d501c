/** Conversion between an events row and the StoredEvent the rest of the service works with. */
import type { ActorType, StoredEvent } from '../events.ts';
import type { EventRow, NewEventRow } from './schema/index.ts';

export function rowToEvent(row: EventRow): StoredEvent {
  return {
    id: row.id,
    workspaceId: row.workspaceId,
    seq: row.seq,
    type: row.type,
    category: row.category,
    timestamp: row.timestamp.toISOString(),
    receivedAt: row.receivedAt.toISOString(),
    actor: {
      type: row.actorType as ActorType,
      id: row.actorId,
      ...(row.actorName !== null && { name: row.actorName }),
      ...(row.actorEmail !== null && { email: row.actorEmail }),
    },
    resource: {
      type: row.resourceType,
      id: row.resourceId,
      ...(row.resourceName !== null && { name: row.resourceName }),
    },
    changes: row.changes ?? null,
    context: row.context ?? null,
    metadata: row.metadata ?? null,
    hash: row.hash,
  };
}

export function eventToRow(event: StoredEvent): NewEventRow {
  return {
    workspaceId: event.workspaceId,
    id: event.id,
    seq: event.seq,
    type: event.type,
    category: event.category,
    timestamp: new Date(event.timestamp),
    receivedAt: new Date(event.receivedAt),
    actorType: event.actor.type,
    actorId: event.actor.id,
    actorName: event.actor.name ?? null,
    actorEmail: event.actor.email ?? null,
    resourceType: event.resource.type,
    resourceId: event.resource.id,
    resourceName: event.resource.name ?? null,
    changes: event.changes,
    context: event.context,
    metadata: event.metadata,
    hash: event.hash,
  };
}
