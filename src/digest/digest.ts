/**
 * A chain digest (SPEC section 12): the signed statement "at `at`, workspace W's chain had hash H at seq S", made
 * for the head and for the retention checkpoint, and its form as Slack message metadata and as a line people read.
 */
import { type KeyObject, sign, verify } from 'node:crypto';
import { z } from 'zod';
import { escapeMrkdwn } from '../slack/mrkdwn.ts';
import type { ChainAnchor } from '../store/anchors.ts';
import { canonicalJson } from '../store/chain.ts';
import { keyFingerprint } from './keys.ts';

/** Slack metadata event_type of a digest message ([a-z0-9_], as Slack's metadata guidelines ask). */
export const DIGEST_METADATA_TYPE = 'audit_digest';

/** The four signed fields. */
export interface DigestStatement {
  workspaceId: string;
  seq: number;
  hash: string;
  /** When the digest was made, ISO 8601 UTC with milliseconds. */
  at: string;
}

export interface SignedDigest {
  head: DigestStatement;
  /** Base64 Ed25519 signature over canonicalJson(head). */
  signature: string;
  /** The retention checkpoint as of `at`, signed the same way (same workspaceId and at, its own seq and hash). */
  checkpoint?: { seq: number; hash: string; signature: string };
  keyFingerprint: string;
}

/** Exactly the bytes that are signed: canonical JSON (keys sorted, no whitespace) of the four fields and no others. */
export function signedBytes(statement: DigestStatement): Buffer {
  const { workspaceId, seq, hash, at } = statement;
  return Buffer.from(canonicalJson({ workspaceId, seq, hash, at }), 'utf8');
}

export function signStatement(statement: DigestStatement, privateKey: KeyObject): string {
  // Ed25519 hashes internally: the algorithm argument must be null.
  return sign(null, signedBytes(statement), privateKey).toString('base64');
}

export function statementSignedBy(statement: DigestStatement, signature: string, publicKey: KeyObject): boolean {
  const bytes = Buffer.from(signature, 'base64');
  // Ed25519 signatures are 64 bytes; anything else is not one (and verify() would throw on some lengths).
  return bytes.length === 64 && verify(null, signedBytes(statement), publicKey, bytes);
}

export function makeDigest(anchor: ChainAnchor, privateKey: KeyObject, at: Date): SignedDigest {
  const iso = at.toISOString();
  const head = { workspaceId: anchor.workspaceId, seq: anchor.headSeq, hash: anchor.headHash, at: iso };
  const { checkpoint } = anchor;
  return {
    head,
    signature: signStatement(head, privateKey),
    ...(checkpoint && {
      checkpoint: {
        ...checkpoint,
        signature: signStatement({ workspaceId: anchor.workspaceId, ...checkpoint, at: iso }, privateKey),
      },
    }),
    keyFingerprint: keyFingerprint(privateKey),
  };
}

/** The checkpoint part as the statement its signature covers. */
export function checkpointStatement(digest: SignedDigest): DigestStatement | undefined {
  const { checkpoint, head } = digest;
  return checkpoint && { workspaceId: head.workspaceId, seq: checkpoint.seq, hash: checkpoint.hash, at: head.at };
}

/**
 * Slack metadata: event_payload values must be strings, numbers or booleans (no null), keys snake_case. Numbers
 * stay integers far below 2^53 (seq), the hashes and the signature are short strings: about 400 bytes in all.
 */
export function digestMetadata(digest: SignedDigest) {
  const { head, checkpoint } = digest;
  return {
    event_type: DIGEST_METADATA_TYPE,
    event_payload: {
      workspace_id: head.workspaceId,
      seq: head.seq,
      hash: head.hash,
      at: head.at,
      signature: digest.signature,
      key_fingerprint: digest.keyFingerprint,
      ...(checkpoint && {
        checkpoint_seq: checkpoint.seq,
        checkpoint_hash: checkpoint.hash,
        checkpoint_signature: checkpoint.signature,
      }),
    },
  };
}

const hash = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters');
const signature = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9+/]+={0,2}$/, 'must be base64');
const seq = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

/** What a message must carry to be read as a digest. Anyone in the channel can post, so nothing is assumed. */
const payloadSchema = z
  .object({
    workspace_id: z.string().min(1).max(1000),
    seq,
    hash,
    at: z.iso.datetime({ offset: false }),
    signature,
    key_fingerprint: z.string().regex(/^[0-9a-f]{16}$/),
    checkpoint_seq: seq.optional(),
    checkpoint_hash: hash.optional(),
    checkpoint_signature: signature.optional(),
  })
  .refine(
    (p) =>
      [p.checkpoint_seq, p.checkpoint_hash, p.checkpoint_signature].every((v) => v === undefined) ||
      [p.checkpoint_seq, p.checkpoint_hash, p.checkpoint_signature].every((v) => v !== undefined),
    'checkpoint_seq, checkpoint_hash and checkpoint_signature come together',
  );

export type DigestParse = { ok: true; digest: SignedDigest } | { ok: false; problem: string };

/** A digest from an event_payload as conversations.history returns it. */
export function parseDigestPayload(payload: unknown): DigestParse {
  const parsed = payloadSchema.safeParse(payload);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, problem: `${issue?.path.join('.') || 'event_payload'}: ${issue?.message ?? 'invalid'}` };
  }
  const p = parsed.data;
  return {
    ok: true,
    digest: {
      head: { workspaceId: p.workspace_id, seq: p.seq, hash: p.hash, at: p.at },
      signature: p.signature,
      ...(p.checkpoint_seq !== undefined &&
        p.checkpoint_hash !== undefined &&
        p.checkpoint_signature !== undefined && {
          checkpoint: { seq: p.checkpoint_seq, hash: p.checkpoint_hash, signature: p.checkpoint_signature },
        }),
      keyFingerprint: p.key_fingerprint,
    },
  };
}

/** The line people see: "acme: 1,204,311 events, head 3f2a9c01…, signed key 9c1e44d0…". */
export function digestText(digest: SignedDigest): string {
  const { head, checkpoint } = digest;
  const purged = checkpoint ? `, purged up to seq ${checkpoint.seq.toLocaleString('en-US')}` : '';
  return (
    `${escapeMrkdwn(head.workspaceId)}: ${head.seq.toLocaleString('en-US')} events, head ${head.hash.slice(0, 8)}…` +
    `${purged}, signed key ${digest.keyFingerprint.slice(0, 8)}…`
  );
}
