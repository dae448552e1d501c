import { sql } from 'drizzle-orm';
import { bigint, customType, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/** A set of seq ranges; only ever changed in SQL (`+` merges ranges, adjacent ones become one). */
const int8multirange = customType<{ data: string }>({ dataType: () => 'int8multirange' });

/**
 * How far alerting has got per workspace: every event with seq <= alerted_seq has been through the rules and its
 * alerts are posted (or given up on). Alert jobs cover committed seq ranges and finish in any order, so a range that
 * finishes above a gap waits in done_above until the ranges below it finish and it merges into alerted_seq. This
 * watermark, not Redis, says what is left to do: after Redis loses its jobs, the relay queues again all above it.
 */
export const alertProgress = pgTable('alert_progress', {
  workspaceId: text('workspace_id').primaryKey(),
  alertedSeq: bigint('alerted_seq', { mode: 'number' }).notNull(),
  /** Seq ranges above alerted_seq whose jobs have finished. */
  doneAbove: int8multirange('done_above').notNull().default(sql`'{}'::int8multirange`),
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});
