/** Producer tokens: created once and shown once, stored only as SHA-256, revocable. */
import { createHash, randomBytes } from 'node:crypto';
import { and, asc, eq, isNull } from 'drizzle-orm';
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

/** Tokens from INGEST_TOKENS are stored hashed like any other; a revoked one stays revoked across restarts. */
export async function registerBootstrapTokens(
  db: DbOrTx,
  pairs: readonly { workspaceId: string; token: string }[],
): Promise<void> {
  if (pairs.length === 0) return;
  await db
    .insert(ingestTokens)
    .values(
      pairs.map(({ workspaceId, token }) => {
        const tokenHash = hashToken(token);
        return { id: `env_${tokenHash.slice(0, 16)}`, workspaceId, name: 'INGEST_TOKENS', tokenHash };
      }),
    )
    .onConflictDoNothing();
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
