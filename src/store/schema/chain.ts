import { bigint, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * The head of each workspace's hash chain. Its row lock is the per-workspace write lock: an append
 * takes it first (INSERT … ON CONFLICT DO UPDATE … RETURNING), so seq and hash advance without gaps
 * even with many writers, and an event's seq is visible only after every smaller seq is.
 */
export const chainHeads = pgTable('chain_heads', {
  workspaceId: text('workspace_id').primaryKey(),
  seq: bigint('seq', { mode: 'number' }).notNull(),
  hash: text('hash').notNull(),
  /** The receivedAt of the head event: the next append's receivedAt is never earlier (see appendEventGroups). */
  updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
});

/** Where the chain starts after a retention purge: the last purged seq and its hash. */
export const chainCheckpoints = pgTable('chain_checkpoints', {
  workspaceId: text('workspace_id').primaryKey(),
  seq: bigint('seq', { mode: 'number' }).notNull(),
  hash: text('hash').notNull(),
  purgedAt: timestamp('purged_at', { withTimezone: true }).notNull().defaultNow(),
});
