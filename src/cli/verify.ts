/** `verify [--workspace W]`: prints `ok N events, head <hash>` or where the chain breaks (exit 1). */
import type { Database } from '../store/db.ts';
import { listWorkspaces, verifyChain } from '../store/verify.ts';
import type { CliIo } from './run.ts';

export async function verifyCommand(database: Database, workspace: string | undefined, io: CliIo): Promise<number> {
  const workspaces = workspace ? [workspace] : await listWorkspaces(database.db);
  if (workspaces.length === 0) {
    io.out('ok 0 events (no workspaces yet)');
    return 0;
  }
  let broken = 0;
  for (const workspaceId of workspaces) {
    const result = await verifyChain(database.db, workspaceId);
    const suffix = workspace ? '' : ` (workspace ${workspaceId})`;
    if (result.ok) io.out(`ok ${result.count} events, head ${result.head}${suffix}`);
    else {
      broken += 1;
      io.out(`broken at seq ${result.seq}: ${result.reason}${suffix}`);
    }
  }
  return broken ? 1 : 0;
}
