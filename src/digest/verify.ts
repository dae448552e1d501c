/**
 * Checks the stored chain against the digests in the channel (SPEC section 12): each digest's signature, then that
 * the chain still has the signed hash at the signed seq. This is what catches the rewrite `verify` cannot: an
 * edit followed by recomputing every later hash and the head leaves a chain that is consistent but no longer
 * the one that was signed.
 */
import type { KeyObject } from 'node:crypto';
import type { WebClient } from '@slack/web-api';
import { findChannelId, platformErrorCode } from '../alerting/slack-sender.ts';
import { type ChainAnchor, chainAnchors, hashAtSeq } from '../store/anchors.ts';
import type { Db } from '../store/db.ts';
import { listWorkspaces, type VerifyResult, verifyChain } from '../store/verify.ts';
import {
  checkpointStatement,
  DIGEST_METADATA_TYPE,
  type DigestStatement,
  parseDigestPayload,
  type SignedDigest,
  statementSignedBy,
} from './digest.ts';
import { keyFingerprint } from './keys.ts';

/** A digest message in the channel, by its Slack ts. */
export interface DigestMessage {
  ts: string;
  payload: unknown;
}

export class DigestHistoryError extends Error {}

/** Every digest message in the channel, newest first, read page by page (channels:history or groups:history). */
export async function readDigestMessages(client: WebClient, channel: string): Promise<DigestMessage[]> {
  const channelId = await findChannelId(client, channel).catch((error: unknown) => {
    throw new DigestHistoryError(`could not look up DIGEST_CHANNEL ${channel}: ${slackProblem(error)}`);
  });
  if (!channelId) {
    throw new DigestHistoryError(
      `no channel ${channel} is visible to the app (for a private channel, invite the app and grant groups:read)`,
    );
  }
  const found: DigestMessage[] = [];
  let cursor: string | undefined;
  do {
    const answer = await client.conversations
      .history({ channel: channelId, include_all_metadata: true, limit: 200, cursor })
      .catch((error: unknown) => {
        throw new DigestHistoryError(`could not read the history of ${channel}: ${slackProblem(error)}`);
      });
    for (const message of answer.messages ?? []) {
      const metadata = message.metadata as { event_type?: string; event_payload?: unknown } | undefined;
      if (metadata?.event_type !== DIGEST_METADATA_TYPE || !message.ts) continue;
      found.push({ ts: message.ts, payload: metadata.event_payload });
    }
    cursor = answer.response_metadata?.next_cursor || undefined;
  } while (cursor);
  return found;
}

function slackProblem(error: unknown): string {
  const code = platformErrorCode(error);
  switch (code) {
    case 'not_in_channel':
      return 'not_in_channel: invite the app to the channel (/invite @audit-trail) so it can read the history';
    case 'missing_scope':
      return 'missing_scope: the app needs channels:history (groups:history for a private channel) and channels:read';
    case undefined:
      return error instanceof Error ? error.message : String(error);
    default:
      return code;
  }
}

/** A message that is not a digest this key set vouches for. */
export type SignatureProblem =
  | { kind: 'malformed'; ts: string; problem: string }
  | { kind: 'unknown-key'; ts: string; digest: SignedDigest }
  | { kind: 'bad-signature'; ts: string; digest: SignedDigest; part: 'head' | 'checkpoint' };

/** One signed (seq, hash) checked against the stored chain. */
export type AnchorCheck =
  | { kind: 'match'; statement: DigestStatement; part: 'head' | 'checkpoint' }
  | { kind: 'covered'; statement: DigestStatement; part: 'head' | 'checkpoint'; checkpointSeq: number }
  /** The stored chain has another hash at that seq (stored undefined: no event has that seq). */
  | { kind: 'mismatch'; statement: DigestStatement; part: 'head' | 'checkpoint'; stored: string | undefined }
  /** The seq lies beyond the chain's head: events after `headSeq` were deleted. */
  | { kind: 'truncated'; statement: DigestStatement; part: 'head' | 'checkpoint'; headSeq: number };

export interface WorkspaceReport {
  workspaceId: string;
  /** The plain chain walk; undefined for a workspace that exists only in digests (its chain is gone). */
  chain?: VerifyResult;
  /** Every signed anchor of the workspace's digests, oldest seq first. */
  checks: AnchorCheck[];
}

export interface DigestReport {
  digests: number;
  signatureProblems: SignatureProblem[];
  workspaces: WorkspaceReport[];
}

export function hasProblems(report: DigestReport): boolean {
  const contradicted = (w: WorkspaceReport) => w.checks.some((c) => c.kind === 'mismatch' || c.kind === 'truncated');
  const broken = (w: WorkspaceReport) => (w.chain && !w.chain.ok) || contradicted(w);
  return report.signatureProblems.length > 0 || report.workspaces.some(broken);
}

/** Sorts the messages into digests signed by one of `publicKeys` and problems, and checks each against the chain. */
export async function verifyDigests(
  db: Db,
  messages: DigestMessage[],
  publicKeys: KeyObject[],
  workspace?: string,
): Promise<DigestReport> {
  const keys = new Map(publicKeys.map((key) => [keyFingerprint(key), key]));
  const signatureProblems: SignatureProblem[] = [];
  const byWorkspace = new Map<string, { statement: DigestStatement; part: 'head' | 'checkpoint' }[]>();
  let digests = 0;

  // Oldest message first, so problems are listed in the order they were posted.
  for (const message of [...messages].sort((a, b) => compareTs(a.ts, b.ts))) {
    const parsed = parseDigestPayload(message.payload);
    if (!parsed.ok) {
      signatureProblems.push({ kind: 'malformed', ts: message.ts, problem: parsed.problem });
      continue;
    }
    const { digest } = parsed;
    if (workspace !== undefined && digest.head.workspaceId !== workspace) continue;
    digests += 1;
    const key = keys.get(digest.keyFingerprint);
    if (!key) {
      signatureProblems.push({ kind: 'unknown-key', ts: message.ts, digest });
      continue;
    }
    if (!statementSignedBy(digest.head, digest.signature, key)) {
      signatureProblems.push({ kind: 'bad-signature', ts: message.ts, digest, part: 'head' });
      continue;
    }
    const checkpoint = checkpointStatement(digest);
    if (checkpoint && !statementSignedBy(checkpoint, digest.checkpoint!.signature, key)) {
      signatureProblems.push({ kind: 'bad-signature', ts: message.ts, digest, part: 'checkpoint' });
      continue;
    }
    const list = byWorkspace.get(digest.head.workspaceId) ?? [];
    list.push({ statement: digest.head, part: 'head' });
    if (checkpoint) list.push({ statement: checkpoint, part: 'checkpoint' });
    byWorkspace.set(digest.head.workspaceId, list);
  }

  const stored = workspace === undefined ? await listWorkspaces(db) : [workspace];
  const names = [...new Set([...stored, ...byWorkspace.keys()])].sort();
  const workspaces: WorkspaceReport[] = [];
  for (const workspaceId of names) {
    const [anchor] = await chainAnchors(db, workspaceId);
    const chain = anchor ? await verifyChain(db, workspaceId) : undefined;
    const signed = (byWorkspace.get(workspaceId) ?? []).sort(
      (a, b) => a.statement.seq - b.statement.seq || a.statement.at.localeCompare(b.statement.at),
    );
    const checks: AnchorCheck[] = [];
    for (const { statement, part } of signed) checks.push(await checkAnchor(db, anchor, statement, part));
    workspaces.push({ workspaceId, ...(chain && { chain }), checks });
  }
  return { digests, signatureProblems, workspaces };
}

async function checkAnchor(
  db: Db,
  anchor: ChainAnchor | undefined,
  statement: DigestStatement,
  part: 'head' | 'checkpoint',
): Promise<AnchorCheck> {
  const headSeq = anchor?.headSeq ?? 0;
  if (statement.seq > headSeq) return { kind: 'truncated', statement, part, headSeq };
  const checkpoint = anchor?.checkpoint;
  if (checkpoint && statement.seq < checkpoint.seq) {
    return { kind: 'covered', statement, part, checkpointSeq: checkpoint.seq };
  }
  // The checkpoint's seq was purged with the rest: its hash lives in the checkpoint row.
  const stored =
    checkpoint && statement.seq === checkpoint.seq
      ? checkpoint.hash
      : await hashAtSeq(db, statement.workspaceId, statement.seq);
  return stored === statement.hash ? { kind: 'match', statement, part } : { kind: 'mismatch', statement, part, stored };
}

/** Slack timestamps compared as numbers ("1700000000.000100"), without float rounding. */
function compareTs(a: string, b: string): number {
  const [as = '0', af = ''] = a.split('.');
  const [bs = '0', bf = ''] = b.split('.');
  return Number(as) - Number(bs) || af.padEnd(6, '0').localeCompare(bf.padEnd(6, '0'));
}
