/**
 * The ingest token's workspace, looked up within a deadline. Every authenticated request starts with this indexed
 * lookup, so it doubles as the liveness probe: a Postgres that cannot answer it in time is treated as down (503 with
 * Retry-After) instead of holding the request.
 */
import type { Db } from '../store/db.ts';
import { withDeadline } from '../store/db.ts';
import { workspaceForToken } from '../store/tokens.ts';

/** The lookup is one indexed row; Postgres that cannot answer it this fast is as good as down. */
const TOKEN_LOOKUP_DEADLINE_MS = 3_000;

export function workspaceForTokenInTime(db: Db, token: string): Promise<string | undefined> {
  return withDeadline(workspaceForToken(db, token), TOKEN_LOOKUP_DEADLINE_MS, 'token lookup');
}
