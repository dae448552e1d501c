import { index, pgTable, text, timestamp, uniqueIndex } from 'drizzle-orm/pg-core';

/** Producer tokens. Only the SHA-256 of a token is stored; the token itself is shown once, at creation. */
export const ingestTokens = pgTable(
  'ingest_tokens',
  {
    id: text('id').primaryKey(),
    workspaceId: text('workspace_id').notNull(),
    name: text('name').notNull(),
    tokenHash: text('token_hash').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [uniqueIndex('ingest_tokens_hash').on(t.tokenHash), index('ingest_tokens_workspace').on(t.workspaceId)],
);
