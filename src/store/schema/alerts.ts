import { sql } from 'drizzle-orm';
import { index, integer, pgTable, primaryKey, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * One row per (event, rule) that should alert: the record that makes "one message per rule and event"
 * hold across retries, duplicate jobs and crashes. The row is committed as `pending` before the post,
 * so a worker that finds a pending row knows a post may already have happened and looks for it in
 * the channel (message metadata) before posting again.
 */
export const alerts = pgTable(
  'alerts',
  {
    workspaceId: text('workspace_id').notNull(),
    eventId: text('event_id').notNull(),
    ruleId: text('rule_id').notNull(),
    /** As the rule names it: `#data-alerts` or `C0123`. */
    channel: text('channel').notNull(),
    /** Slack's channel ID, once known. */
    channelId: text('channel_id'),
    ts: text('ts'),
    /**
     * pending | sent | grouped (shown in its group's message, alert_group_members) | failed (permanent Slack error) |
     * logged (no bot token: written to the log) | silenced (held back by the silence in silence_id, not posted).
     */
    status: text('status').notNull().default('pending'),
    error: text('error'),
    attempts: integer('attempts').notNull().default(0),
    /**
     * While in the future, a worker is handing this alert to its channel's queue (or a group) in Postgres: another job
     * reaching the same (event, rule), as overlapping ranges can, waits instead of queueing it too.
     */
    leaseUntil: timestamp('lease_until', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    sentAt: timestamp('sent_at', { withTimezone: true }),
    silenceId: integer('silence_id'),
    /** The Slack user who clicked Acknowledge, and when. */
    acknowledgedBy: text('acknowledged_by'),
    acknowledgedAt: timestamp('acknowledged_at', { withTimezone: true }),
    /**
     * The Slack user who chose Silence… on this alert's message, the duration chosen (`8h`) and the silence it made or
     * moved: with the acknowledgement, what a grouped message this alert heads keeps showing each time it is redrawn.
     */
    silencedBy: text('silenced_by'),
    silencedFor: text('silenced_for'),
    silencedWith: integer('silenced_with'),
  },
  (t) => [
    primaryKey({ name: 'alerts_pkey', columns: [t.workspaceId, t.eventId, t.ruleId] }),
    index('alerts_channel').on(t.channel, t.createdAt.desc()),
    // A click on an alert names its message (channel, ts); the App Home lists a workspace's latest alerts.
    index('alerts_message').on(t.channelId, t.ts).where(sql`${t.ts} is not null`),
    index('alerts_workspace_time').on(t.workspaceId, t.createdAt.desc()),
    index('alerts_silence').on(t.silenceId).where(sql`${t.silenceId} is not null`),
  ],
);

export type AlertRow = typeof alerts.$inferSelect;
