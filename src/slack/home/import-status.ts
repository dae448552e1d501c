/** What the App Home shows of the Segment import (SPEC section 11): the same state `/audit import status` reads. */
import type { Config } from '../../config.ts';
import type { DbOrTx } from '../../store/db.ts';
import { getSegmentImport } from '../../store/segment-import.ts';

export type ImportStatusForHome =
  | { state: 'not_configured' }
  | {
      state: 'on' | 'off';
      lastPollAt?: Date;
      /** The last poll's result in a few words, e.g. "ok, 12 new events" or "failed (unauthorized)". Plain text. */
      lastResult?: string;
      imported?: number;
      oldestImported?: Date;
      newestImported?: Date;
      lastError?: string;
      nextTryAt?: Date;
    };

/**
 * The Segment import's state for the workspace's App Home: on when SEGMENT_PULL_WORKSPACE names this workspace, off
 * when it once ran here but no longer does, not configured when it never ran here.
 */
export async function readImportStatusForHome(
  db: DbOrTx,
  workspaceId: string,
  pull: Config['segment']['pull'],
): Promise<ImportStatusForHome> {
  const on = pull?.workspaceId === workspaceId;
  const row = await getSegmentImport(db, workspaceId);
  if (!row) return on ? { state: 'on' } : { state: 'not_configured' };
  return {
    state: on ? 'on' : 'off',
    ...(row.lastPollAt && { lastPollAt: row.lastPollAt }),
    ...(row.lastPollResult && { lastResult: pollResult(row.lastPollResult, row.lastPollImported, row.lastErrorKind) }),
    imported: row.importedCount,
    ...(row.oldestImportedAt && { oldestImported: row.oldestImportedAt }),
    ...(row.newestImportedAt && { newestImported: row.newestImportedAt }),
    ...(row.lastError && { lastError: row.lastError }),
    ...(on && row.nextPollAt && { nextTryAt: row.nextPollAt }),
  };
}

function pollResult(result: string, imported: number | null, errorKind: string | null): string {
  if (result === 'ok') return `ok, ${imported ?? 0} new event${imported === 1 ? '' : 's'}`;
  if (result === 'rate_limited') return 'rate limited by Segment (429)';
  return errorKind ? `failed (${errorKind})` : 'failed';
}
