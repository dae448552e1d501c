/** Producer tokens: created once and shown once, stored only as SHA-256, revocable. */
import { createHash, randomBytes } from 'node:crypto';
import { and, asc, eq, inArray, isNull } from 'drizzle-orm';
import type { DbOrTx } from './db.ts';
import { ingestTokens } from './schema/index.ts';

export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export async function createIngestToken(
  db: DbOrTx,
  input: { workspaceId: string; name: string },
): Promise<{ id: string; token: string }> {
  const token = `atk_${randomBytes(24).toString('base64url')}`;
  const id = `tok_${randomBytes(8).toString('hex')}`;
  await db
    .insert(ingestTokens)
    .values({ id, workspaceId: input.workspaceId, name: input.name, tokenHash: hashToken(token) });
  return { id, token };
}

/** A pair of INGEST_TOKENS whose token was stored before for another workspace: it keeps that one. */
export interface BootstrapTokenConflict {
  id: string;
  /** The workspace INGEST_TOKENS names now. */
  workspaceId: string;
  /** The workspace the token was first registered for, and still writes to. */
  registeredWorkspaceId: string;
}

/**
 * Tokens from INGEST_TOKENS are stored hashed like any other; a revoked one stays revoked across restarts. A token is
 * registered once: a pair that later names another workspace for it changes nothing, and is returned so the caller
 * can say so (moving a producer's events to another workspace silently would be worse).
 */
export async function registerBootstrapTokens(
  db: DbOrTx,
  pairs: readonly { workspaceId: string; token: string }[],
): Promise<BootstrapTokenConflict[]> {
  if (pairs.length === 0) return [];
  const wanted = pairs.map(({ workspaceId, token }) => {
    const tokenHash = hashToken(token);
    return { id: `env_${tokenHash.slice(0, 16)}`, workspaceId, name: 'INGEST_TOKENS', tokenHash };
  });
  await db.insert(ingestTokens).values(wanted).onConflictDoNothing();
  const stored = await db
    .select({ id: ingestTokens.id, workspaceId: ingestTokens.workspaceId })
    .from(ingestTokens)
    .where(
      inArray(
        ingestTokens.id,
        wanted.map((row) => row.id),
      ),
    );
  const registered = new Map(stored.map((row) => [row.id, row.workspaceId]));
  return wanted.flatMap(({ id, workspaceId }) => {
    const registeredWorkspaceId = registered.get(id);
    return registeredWorkspaceId !== undefined && registeredWorkspaceId !== workspaceId
      ? [{ id, workspaceId, registeredWorkspaceId }]
      : [];
  });
}

export function listIngestTokens(db: DbOrTx) {
  return db
    .select({
      id: ingestTokens.id,
      workspaceId: ingestTokens.workspaceId,
      name: ingestTokens.name,
      createdAt: ingestTokens.createdAt,
      revokedAt: ingestTokens.revokedAt,
    })
    .from(ingestTokens)
    .orderBy(asc(ingestTokens.workspaceId), asc(ingestTokens.createdAt));
}

/** True when the token existed and was active. */
export async function revokeIngestToken(db: DbOrTx, id: string): Promise<boolean> {
  const revoked = await db
    .update(ingestTokens)
    .set({ revokedAt: new Date() })
    .where(and(eq(ingestTokens.id, id), isNull(ingestTokens.revokedAt)))
    .returning({ id: ingestTokens.id });
  return revoked.length > 0;
}

/** The workspace a bearer token belongs to, or undefined for an unknown or revoked token. */
export async function workspaceForToken(db: DbOrTx, token: string): Promise<string | undefined> {
  const [row] = await db
    .select({ workspaceId: ingestTokens.workspaceId })
    .from(ingestTokens)
    .where(and(eq(ingestTokens.tokenHash, hashToken(token)), isNull(ingestTokens.revokedAt)));
  return row?.workspaceId;
}
