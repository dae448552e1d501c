import { bigint, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

/**
 * The import of Segment's own audit trail from the Public API (SPEC section 11), one row per audit workspace it feeds.
 *
 * Segment pages newest first, so an interrupted read says nothing about how far back it got: the importer reads a
 * window (from `window_start` to whatever Segment's cursor pins as its end) page by page, keeping the cursor here
 * in the transaction that stores each page, and only when the last page is read does the newest timestamp seen
 * become the `watermark`. The next window starts a little before it, so late arrivals are re-read (ids dedupe).
 * The importer holds this row (FOR UPDATE SKIP LOCKED) while it fetches and stores a page, so one replica polls at
 * a time and a replica that lost the race skips the poll.
 */
export const segmentImports = pgTable('segment_imports', {
  workspaceId: text('workspace_id').primaryKey(),
  /** The Segment workspace the Public API token belongs to, learned from `GET /`; part of every event's id. */
  segmentWorkspaceId: text('segment_workspace_id'),
  /** The newest event timestamp of the windows read to the end. */
  watermark: timestamp('watermark', { withTimezone: true }),
  /** Set while a window is being read: its start, the cursor of its next page, and the newest timestamp so far. */
  windowStart: timestamp('window_start', { withTimezone: true }),
  windowCursor: text('window_cursor'),
  windowNewest: timestamp('window_newest', { withTimezone: true }),
  windowPages: integer('window_pages').notNull().default(0),
  windowImported: integer('window_imported').notNull().default(0),
  /** Events stored by the import (duplicates not counted), and the oldest and newest of their timestamps. */
  importedCount: bigint('imported_count', { mode: 'number' }).notNull().default(0),
  oldestImportedAt: timestamp('oldest_imported_at', { withTimezone: true }),
  newestImportedAt: timestamp('newest_imported_at', { withTimezone: true }),
  /** The last request to Segment, and how it went: `ok`, `error` or `rate_limited`. */
  lastPollAt: timestamp('last_poll_at', { withTimezone: true }),
  lastPollResult: text('last_poll_result'),
  /** New events stored by the last window read to the end. */
  lastPollImported: integer('last_poll_imported'),
  lastSuccessAt: timestamp('last_success_at', { withTimezone: true }),
  lastError: text('last_error'),
  lastErrorKind: text('last_error_kind'),
  lastErrorAt: timestamp('last_error_at', { withTimezone: true }),
  /** Failed polls in a row, for the backoff; 0 after a page is read. */
  failures: integer('failures').notNull().default(0),
  /** No replica polls before this: the next regular poll, or the end of a backoff or a rate-limit wait. */
  nextPollAt: timestamp('next_poll_at', { withTimezone: true }),
});

export type SegmentImportRow = typeof segmentImports.$inferSelect;
