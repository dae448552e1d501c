/** An events row as the StoredEvent the rest of the service works with. */
import type { ActorType, StoredEvent } from '../events.ts';
import type { EventRow } from './schema/index.ts';

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
