/**
 * What the App Home shows of the Segment import (SPEC section 11). The import is built separately; until it is wired
 * in here, every workspace reads as "not configured". To wire it: return the import's state for the workspace from
 * readImportStatusForHome (the App Home's block builder already renders every field below).
 */
import type { DbOrTx } from '../../store/db.ts';

export type ImportStatusForHome =
  | { state: 'not_configured' }
  | {
      state: 'on' | 'off';
      lastPollAt?: Date;
      /** The last poll's result in a few words, e.g. "12 new events" or "401 Unauthorized". */
      lastResult?: string;
      imported?: number;
      oldestImported?: Date;
      newestImported?: Date;
      lastError?: string;
      nextTryAt?: Date;
    };

/** The Segment import's state for the workspace's App Home. A stub: see the module comment. */
export async function readImportStatusForHome(_db: DbOrTx, _workspaceId: string): Promise<ImportStatusForHome> {
  return { state: 'not_configured' };
}
