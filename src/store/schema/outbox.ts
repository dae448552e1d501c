import { bigint, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * Outbox state. Because seq is gap-free and commits in order per workspace (see chain_heads), the
 * outbox entry of an event is its own row, committed in the same transaction, and "sent" is one
 * number per workspace: every event with seq <= relayed_seq is on the queue. That keeps ingest to
 * one write per event and makes the relay a range read.
 */
export const outboxCursors = pgTable('outbox_cursors', {
  workspaceId: text('workspace_id').primaryKey(),
  relayedSeq: bigint('relayed_seq', { mode: 'number' }).notNull().default(0),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
