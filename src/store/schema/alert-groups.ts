import { sql } from 'drizzle-orm';
import { bigint, index, integer, pgTable, primaryKey, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/**
 * Grouped alerts (SPEC section 6): matches of one rule that share a key (`group: { by }`, or the actor under storm
 * protection) and one Slack message, updated in place as more join. A group is open until `within` passes without a
 * new match or it holds MAX_GROUP_EVENTS; at most one group per (rule, key) is open, which the partial unique index
 * enforces against workers opening one at the same moment. `version` counts changes worth showing (a new member, a
 * Revert all step); the dispatcher updates the message while `shown_version` lags, at chat.update's pace, so many
 * changes between two updates cost one call. The Revert all run of the group (revert/revert-all.ts) lives here too.
 */
export const alertGroups = pgTable(
  'alert_groups',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    workspaceId: text('workspace_id').notNull(),
    ruleId: text('rule_id').notNull(),
    channel: text('channel').notNull(),
    severity: text('severity').notNull(),
    /** `rule`: the rule's `group`; `storm`: storm protection, for a rule without `group` flooding a channel. */
    kind: text('kind').notNull(),
    /** The field path the events share (`actor.id`), or null when the whole workspace is one group. */
    groupBy: text('group_by'),
    /** The value they share at that path, as shown in the message. */
    groupValue: text('group_value'),
    /** What a later match must share to join: the workspace and the value at the path (alerting/match.ts groupKey). */
    groupKey: text('group_key').notNull(),
    withinMs: integer('within_ms').notNull(),
    /** open | closed */
    status: text('status').notNull().default('open'),
    count: integer('count').notNull().default(0),
    firstReceivedAt: timestamp('first_received_at', { withTimezone: true }).notNull(),
    lastReceivedAt: timestamp('last_received_at', { withTimezone: true }).notNull(),
    /** A match received after this opens a new group. */
    closesAt: timestamp('closes_at', { withTimezone: true }).notNull(),
    /** The first match: its alert row carries the message (channel_id, ts) and its metadata names it. */
    headEventId: text('head_event_id').notNull(),
    channelId: text('channel_id'),
    ts: text('ts'),
    version: integer('version').notNull().default(1),
    shownVersion: integer('shown_version').notNull().default(0),
    updateNotBefore: timestamp('update_not_before', { withTimezone: true }).notNull().defaultNow(),
    updateError: text('update_error'),
    /** Revert all: the run number (0 before any), its state (queued | running | done), scope (all | failed). */
    revertRun: integer('revert_run').notNull().default(0),
    revertState: text('revert_state'),
    revertScope: text('revert_scope'),
    /** The Slack user who clicked. */
    revertBy: text('revert_by'),
    revertTotal: integer('revert_total'),
    revertStartedAt: timestamp('revert_started_at', { withTimezone: true }),
    revertFinishedAt: timestamp('revert_finished_at', { withTimezone: true }),
    /**
     * The job attempt running the run, and until when: another copy of its job (queued again after Redis was wiped,
     * or picked up by BullMQ's stalled-job check) waits for the lease to lapse rather than revert alongside it.
     */
    revertHolder: text('revert_holder'),
    revertLeaseUntil: timestamp('revert_lease_until', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('alert_groups_open_key').on(t.ruleId, t.groupKey).where(sql`${t.status} = 'open'`),
    index('alert_groups_stale').on(t.id).where(sql`${t.version} > ${t.shownVersion} and ${t.ts} is not null`),
    index('alert_groups_closing').on(t.closesAt).where(sql`${t.status} = 'open'`),
    // The runs to queue again at start and after a Redis wipe: few or none, however many groups there are.
    index('alert_groups_revert_unfinished').on(t.id).where(sql`${t.revertState} in ('queued', 'running')`),
  ],
);

export type AlertGroupRow = typeof alertGroups.$inferSelect;

/**
 * Which group each grouped alert belongs to, keyed like the alerts row: (workspace, event, rule) joins at most one
 * group, so a re-delivered event never counts twice and a grouped event is never also posted alone. `ordinal` is the
 * order of joining (1 = the first match); a Revert all covers the ordinals its confirm named, and records per event
 * what became of it in its run.
 */
export const alertGroupMembers = pgTable(
  'alert_group_members',
  {
    workspaceId: text('workspace_id').notNull(),
    eventId: text('event_id').notNull(),
    ruleId: text('rule_id').notNull(),
    groupId: bigint('group_id', { mode: 'number' }).notNull(),
    ordinal: integer('ordinal').notNull(),
    seq: bigint('seq', { mode: 'number' }).notNull(),
    /** The Revert all run that last covered this event (0: none). */
    revertRun: integer('revert_run').notNull().default(0),
    /** In that run: started | reverted | already_reverted | not_revertible | failed. */
    revertOutcome: text('revert_outcome'),
    revertReason: text('revert_reason'),
  },
  (t) => [
    primaryKey({ name: 'alert_group_members_pkey', columns: [t.workspaceId, t.eventId, t.ruleId] }),
    uniqueIndex('alert_group_members_ordinal').on(t.groupId, t.ordinal),
    // Show all pages through a group in event order.
    index('alert_group_members_group_seq').on(t.groupId, t.seq),
  ],
);

export type AlertGroupMemberRow = typeof alertGroupMembers.$inferSelect;
