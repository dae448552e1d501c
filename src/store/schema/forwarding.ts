import { bigint, boolean, index, integer, pgTable, serial, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * Audit forwarding per workspace (SPEC section 9): the Segment source it goes to and how far delivery
 * has got. Like the outbox, "delivered" is one number because seq is gap-free and commits in order:
 * every event with seq <= delivered_seq was acknowledged by Segment or recorded in forwarding_failures.
 * The forwarder holds this row's lock (SKIP LOCKED) while it sends a batch, so replicas never send the
 * same batch, and it advances the cursor in the transaction that saw the acknowledgement.
 */
export const forwarding = pgTable('forwarding', {
  workspaceId: text('workspace_id').primaryKey(),
  enabled: boolean('enabled').notNull(),
  /** The Segment source write key. Needed to send, so stored; shown and logged only as its last 4 characters. */
  writeKey: text('write_key').notNull(),
  name: text('name'),
  /** The Slack user who last turned forwarding on or off. */
  changedBy: text('changed_by').notNull(),
  changedAt: timestamp('changed_at', { withTimezone: true }).notNull().defaultNow(),
  deliveredSeq: bigint('delivered_seq', { mode: 'number' }).notNull(),
  /** delivered_seq when forwarding was last turned on: where it began, for status. */
  startedSeq: bigint('started_seq', { mode: 'number' }).notNull(),
  /** When forwarding was last turned on from off; the counts below are since then. */
  startedAt: timestamp('started_at', { withTimezone: true }).notNull().defaultNow(),
  deliveredCount: bigint('delivered_count', { mode: 'number' }).notNull().default(0),
  failedCount: bigint('failed_count', { mode: 'number' }).notNull().default(0),
  lastError: text('last_error'),
  lastErrorAt: timestamp('last_error_at', { withTimezone: true }),
  lastDeliveredAt: timestamp('last_delivered_at', { withTimezone: true }),
  /** While set and in the future, the forwarder leaves the workspace alone (backoff after a failed send). */
  retryAt: timestamp('retry_at', { withTimezone: true }),
  /** Sends failed in a row, for the exponential backoff; 0 after a delivery. */
  retryAttempts: integer('retry_attempts').notNull().default(0),
});

/** Batches Segment refused with a 4xx that a retry cannot fix: their events are not sent, and this says which. */
export const forwardingFailures = pgTable(
  'forwarding_failures',
  {
    id: serial('id').primaryKey(),
    workspaceId: text('workspace_id').notNull(),
    fromSeq: bigint('from_seq', { mode: 'number' }).notNull(),
    toSeq: bigint('to_seq', { mode: 'number' }).notNull(),
    /** Segment's HTTP status. */
    status: integer('status').notNull(),
    reason: text('reason').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [index('forwarding_failures_workspace_time').on(t.workspaceId, t.createdAt.desc())],
);

export type ForwardingRow = typeof forwarding.$inferSelect;
export type ForwardingFailureRow = typeof forwardingFailures.$inferSelect;
