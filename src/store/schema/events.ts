import { sql } from 'drizzle-orm';
import { bigint, index, jsonb, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/**
 * One row per stored audit event. (workspace_id, id) is the producer's idempotency key;
 * (workspace_id, seq) orders the hash chain. Every filter index ends in (timestamp desc, seq desc),
 * the order pages are served in, so a filtered first page is an index range scan.
 */
export const events = pgTable(
  'events',
  {
    workspaceId: text('workspace_id').notNull(),
    id: text('id').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    type: text('type').notNull(),
    category: text('category').notNull(),
    timestamp: timestamp('timestamp', { withTimezone: true, mode: 'date' }).notNull(),
    receivedAt: timestamp('received_at', { withTimezone: true, mode: 'date' }).notNull(),
    actorType: text('actor_type').notNull(),
    actorId: text('actor_id').notNull(),
    actorName: text('actor_name'),
    actorEmail: text('actor_email'),
    resourceType: text('resource_type').notNull(),
    resourceId: text('resource_id').notNull(),
    resourceName: text('resource_name'),
    changes: jsonb('changes').$type<Record<string, unknown>>(),
    context: jsonb('context').$type<Record<string, unknown>>(),
    metadata: jsonb('metadata').$type<Record<string, unknown>>(),
    hash: text('hash').notNull(),
  },
  (t) => [
    primaryKey({ name: 'events_pkey', columns: [t.workspaceId, t.id] }),
    uniqueIndex('events_workspace_seq').on(t.workspaceId, t.seq),
    index('events_workspace_time').on(t.workspaceId, t.timestamp.desc(), t.seq.desc()),
    index('events_workspace_type_time').on(t.workspaceId, t.type, t.timestamp.desc(), t.seq.desc()),
    index('events_workspace_category_time').on(t.workspaceId, t.category, t.timestamp.desc(), t.seq.desc()),
    index('events_workspace_actor_time').on(t.workspaceId, t.actorId, t.timestamp.desc(), t.seq.desc()),
    index('events_workspace_actor_email_time')
      .on(t.workspaceId, t.actorEmail, t.timestamp.desc(), t.seq.desc())
      .where(sql`${t.actorEmail} is not null`),
    index('events_workspace_resource_time').on(t.workspaceId, t.resourceId, t.timestamp.desc(), t.seq.desc()),
    index('events_workspace_resource_type_time').on(t.workspaceId, t.resourceType, t.timestamp.desc(), t.seq.desc()),
  ],
);

export type EventRow = typeof events.$inferSelect;
export type NewEventRow = typeof events.$inferInsert;
