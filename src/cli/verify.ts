/** `verify [--workspace W]`: prints `ok N events, head <hash>` or where the chain breaks (exit 1). */
import { GENESIS_HASH } from '../store/chain.ts';
import type { Database } from '../store/db.ts';
import { listWorkspaces, verifyChain, workspacesToVerify } from '../store/verify.ts';
import type { CliIo } from './run.ts';

export const VERIFY_USAGE = `usage: npm run -s cli -- verify [--workspace W]
       npm run -s cli -- verify --digests [--workspace W] [--public-key FILE]... [--channel C]

  Walks the hash chain of one workspace (or of every workspace) and prints
  "ok N events, head <hash>", or the first seq where the chain breaks.
  Exit 0 when every chain checks out; 1 when one breaks, or when --workspace names a workspace
  with no events (a typo, or every event and the chain head deleted).

  --digests also reads the signed digests in DIGEST_CHANNEL (or --channel), checks each signature against the
  public part of DIGEST_SIGNING_KEY (or each --public-key FILE), and checks that the stored chain still holds each
  digest's hash at its seq (or the retention checkpoint, for seqs purged since). Exit 1 on a mismatch, a digest
  whose seq is beyond the head (events deleted), or a bad signature; exit 2 when digests are off.`;

export async function verifyCommand(database: Database, workspace: string | undefined, io: CliIo): Promise<number> {
  const workspaces = workspace !== undefined ? [workspace] : await workspacesToVerify(database.db);
  if (workspaces.length === 0) {
    io.out('ok 0 events (no workspaces yet)');
    return 0;
  }
  let broken = 0;
  for (const workspaceId of workspaces) {
    const result = await verifyChain(database.db, workspaceId);
    // Nothing walked and nothing to start from: no event was ever stored under this name (or all were deleted).
    if (workspace !== undefined && result.ok && result.count === 0 && result.head === GENESIS_HASH) {
      const known = await listWorkspaces(database.db);
      const some = known.slice(0, 10).join(', ') + (known.length > 10 ? ', …' : '');
      const hint = known.length ? `workspaces with events: ${some}` : 'no workspace has events yet';
      io.err(`no events stored for workspace "${workspace}" (${hint})`);
      return 1;
    }
    const suffix = workspace !== undefined ? '' : ` (workspace ${workspaceId})`;
    if (result.ok) io.out(`ok ${result.count} events, head ${result.head}${suffix}`);
    else {
      broken += 1;
      io.out(`broken at seq ${result.seq}: ${result.reason}${suffix}`);
    }
  }
  return broken ? 1 : 0;
}
