import { bigint, index, integer, pgTable, primaryKey, smallint, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * The alerts waiting for their channel's pace: one row per claimed alert (rule, event) not yet posted, or per group
 * whose message is not yet posted (keyed by the group's first alert). Postgres, not a worker's memory, holds this
 * queue, so whichever worker process holds a channel's dispatch lease sees every waiting alert of every process and
 * posts the most severe first, each severity in event order (alerting/dispatch.ts). A row leaves when Slack accepted
 * its message, refused it for good, or its alert joined a group; the alerts row keeps the outcome.
 */
export const alertQueue = pgTable(
  'alert_queue',
  {
    workspaceId: text('workspace_id').notNull(),
    eventId: text('event_id').notNull(),
    ruleId: text('rule_id').notNull(),
    /** As the rule names it. */
    channel: text('channel').notNull(),
    /** 0 critical, 1 warning, 2 info: posts go out lowest first. */
    priority: smallint('priority').notNull(),
    /** The event's receivedAt and seq: the order within a priority. */
    receivedAt: timestamp('received_at', { withTimezone: true }).notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    /** Set when this row posts a group's message (alert_groups) rather than its own alert. */
    groupId: bigint('group_id', { mode: 'number' }),
    /** Posts tried: above 0 a message may already be in the channel, so the dispatcher looks before posting again. */
    attempts: integer('attempts').notNull().default(0),
    /** After a failure worth retrying, the row waits until then. */
    notBefore: timestamp('not_before', { withTimezone: true }).notNull().defaultNow(),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    primaryKey({ name: 'alert_queue_pkey', columns: [t.workspaceId, t.eventId, t.ruleId] }),
    index('alert_queue_channel_order').on(t.channel, t.priority, t.receivedAt, t.seq),
  ],
);

export type AlertQueueRow = typeof alertQueue.$inferSelect;
