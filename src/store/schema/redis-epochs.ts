import { pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * The Redis a queue prefix last ran against, as a random epoch that is also written to a marker key in that Redis.
 * A Redis without the marker (restarted without persistence, flushed, failed over to an empty replica) has lost the
 * queued jobs; Postgres knows what they were, so the relay queues them again and starts a new epoch.
 */
export const redisEpochs = pgTable('redis_epochs', {
  queuePrefix: text('queue_prefix').primaryKey(),
  /** Empty until the first start has written a marker. */
  epoch: text('epoch').notNull(),
  changedAt: timestamp('changed_at', { withTimezone: true }).notNull().defaultNow(),
});
