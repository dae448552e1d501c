/**
 * The Segment import's progress and state (SPEC section 11): the row lock that makes one replica poll at a time,
 * each page's progress written in the transaction that stores its events, failures with their backoff, and the
 * read for `/audit import status`.
 */
import { eq, sql } from 'drizzle-orm';
import type { DbOrTx } from './db.ts';
import { type SegmentImportRow, segmentImports } from './schema/index.ts';

/**
 * The workspace's import row, locked for the rest of the transaction, created on first use; undefined while another
 * replica holds it (SKIP LOCKED), which means it is polling right now.
 */
export async function lockSegmentImport(tx: DbOrTx, workspaceId: string): Promise<SegmentImportRow | undefined> {
  await tx.insert(segmentImports).values({ workspaceId }).onConflictDoNothing();
  const [row] = await tx
    .select()
    .from(segmentImports)
    .where(eq(segmentImports.workspaceId, workspaceId))
    .for('update', { skipLocked: true });
  return row;
}

/**
 * Records the Segment workspace the token belongs to. With `restart` (the token now belongs to another Segment
 * workspace) the progress goes too: nothing read from the old one says where to resume in the new one.
 */
export async function recordSegmentWorkspace(
  tx: DbOrTx,
  workspaceId: string,
  segmentWorkspaceId: string,
  { restart }: { restart: boolean },
): Promise<void> {
  await tx
    .update(segmentImports)
    .set({ segmentWorkspaceId, ...(restart && { watermark: null, ...NO_WINDOW }) })
    .where(eq(segmentImports.workspaceId, workspaceId));
}

const NO_WINDOW = { windowStart: null, windowCursor: null, windowNewest: null, windowPages: 0, windowImported: 0 };

export interface ImportedPage {
  /** The window this page belongs to. */
  windowStart: Date;
  /** Segment's cursor for the next page; undefined when this was the window's last page. */
  next: string | undefined;
  /** The newest timestamp among this page's events. */
  newest: Date | undefined;
  /** Events this page stored (not counting duplicates), and the oldest and newest of their timestamps. */
  stored: number;
  oldestStored: Date | undefined;
  newestStored: Date | undefined;
  /** When the window is done, the next regular poll. */
  nextPollAt: Date;
}

/**
 * A page was read and its events stored (in this transaction): the cursor moves on, or, after the last page, the
 * newest timestamp of the whole window becomes the watermark and the window closes.
 */
export async function recordImportedPage(tx: DbOrTx, workspaceId: string, page: ImportedPage): Promise<void> {
  const t = segmentImports;
  // postgres.js binds text for these untyped parameters: ISO strings, cast in SQL.
  const iso = (date: Date | undefined) => date?.toISOString() ?? null;
  const newest = iso(page.newest);
  const windowNewest = sql`greatest(${t.windowNewest}, ${newest}::timestamptz)`;
  const counts = {
    importedCount: sql`${t.importedCount} + ${page.stored}`,
    oldestImportedAt: sql`least(${t.oldestImportedAt}, ${iso(page.oldestStored)}::timestamptz)`,
    newestImportedAt: sql`greatest(${t.newestImportedAt}, ${iso(page.newestStored)}::timestamptz)`,
    lastPollAt: sql`clock_timestamp()`,
    lastSuccessAt: sql`clock_timestamp()`,
    failures: 0,
  };
  if (page.next !== undefined) {
    await tx
      .update(t)
      .set({
        ...counts,
        windowStart: page.windowStart,
        windowCursor: page.next,
        windowNewest,
        windowPages: sql`${t.windowPages} + 1`,
        windowImported: sql`${t.windowImported} + ${page.stored}`,
        lastPollResult: 'ok',
        nextPollAt: null,
      })
      .where(eq(t.workspaceId, workspaceId));
    return;
  }
  await tx
    .update(t)
    .set({
      ...counts,
      // Greatest ignores nulls, so an empty window leaves the watermark where it was.
      watermark: sql`greatest(${t.watermark}, ${windowNewest})`,
      ...NO_WINDOW,
      lastPollResult: 'ok',
      lastPollImported: sql`${t.windowImported} + ${page.stored}`,
      nextPollAt: page.nextPollAt,
    })
    .where(eq(t.workspaceId, workspaceId));
}

export interface ImportFailure {
  kind: string;
  /** Readable, safe to show in Slack (never the token). */
  reason: string;
  /** `rate_limited` when Segment asked us to wait, which is not counted as a failure for the backoff. */
  result: 'error' | 'rate_limited';
  nextPollAt: Date;
  /** The window's cursor was refused: start the window again from its start. */
  dropCursor?: boolean;
}

export async function recordImportFailure(tx: DbOrTx, workspaceId: string, failure: ImportFailure): Promise<void> {
  const t = segmentImports;
  await tx
    .update(t)
    .set({
      lastPollAt: sql`clock_timestamp()`,
      lastPollResult: failure.result,
      lastError: failure.reason,
      lastErrorKind: failure.kind,
      lastErrorAt: sql`clock_timestamp()`,
      failures: failure.result === 'error' ? sql`${t.failures} + 1` : sql`${t.failures}`,
      nextPollAt: failure.nextPollAt,
      ...(failure.dropCursor && { windowCursor: null }),
    })
    .where(eq(t.workspaceId, workspaceId));
}

/** The import row as it stands, for status and metrics; undefined before the first poll. */
export async function getSegmentImport(db: DbOrTx, workspaceId: string): Promise<SegmentImportRow | undefined> {
  const [row] = await db.select().from(segmentImports).where(eq(segmentImports.workspaceId, workspaceId));
  return row;
}
