import { pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * One row per reverted event: its primary key is what makes two clicks, or two owners clicking at
 * once, produce a single call to the Segment API. A failed revert may be tried again.
 */
export const reverts = pgTable(
  'reverts',
  {
    workspaceId: text('workspace_id').notNull(),
    eventId: text('event_id').notNull(),
    /** in_progress | done | failed */
    status: text('status').notNull(),
    /** The Slack user who clicked. */
    requestedBy: text('requested_by').notNull(),
    reason: text('reason'),
    /** The audit event recording the revert. */
    revertEventId: text('revert_event_id'),
    startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [primaryKey({ name: 'reverts_pkey', columns: [t.workspaceId, t.eventId] })],
);

export type RevertRow = typeof reverts.$inferSelect;
