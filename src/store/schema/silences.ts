import { sql } from 'drizzle-orm';
import { index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * One row per silence: while it runs, alerts of its rule for its resource (or every resource, when resource_id is
 * null) are recorded as silenced instead of posted. When it ends (its time is up, or an owner unsilenced it), one
 * summary goes to the rule's channel: the summary columns make that happen once across workers, as the alert rows
 * do for alerts (claimed under a lease before the post, marked after, looked for in the channel on a second try).
 */
export const silences = pgTable(
  'silences',
  {
    /** What `/audit unsilence <id>` takes. */
    id: integer('id').primaryKey().generatedAlwaysAsIdentity(),
    workspaceId: text('workspace_id').notNull(),
    ruleId: text('rule_id').notNull(),
    /** Null: the rule is silenced for every resource. */
    resourceId: text('resource_id'),
    /** The rule's channel when the silence was made: where the summary goes if the rule is gone by then. */
    channel: text('channel').notNull(),
    createdBy: text('created_by').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    endsAt: timestamp('ends_at', { withTimezone: true }).notNull(),
    /** Set when an owner ends it early. */
    endedBy: text('ended_by'),
    endedAt: timestamp('ended_at', { withTimezone: true }),
    /** Summary delivery: attempts so far, the lease of the worker posting it, and where it landed. */
    summaryAttempts: integer('summary_attempts').notNull().default(0),
    summaryLeaseUntil: timestamp('summary_lease_until', { withTimezone: true }),
    summaryChannelId: text('summary_channel_id'),
    summaryTs: text('summary_ts'),
    /** posted | logged (no bot token) | failed (Slack refused for good); null while due. */
    summaryStatus: text('summary_status'),
  },
  (t) => [
    index('silences_active').on(t.workspaceId, t.ruleId, t.endsAt).where(sql`${t.endedAt} is null`),
    index('silences_summary_due').on(t.endsAt).where(sql`${t.summaryStatus} is null`),
  ],
);

export type SilenceRow = typeof silences.$inferSelect;
