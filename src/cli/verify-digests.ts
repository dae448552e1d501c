/**
 * `verify --digests [--workspace W] [--public-key FILE]… [--channel C]`: the chain walk of `verify`, plus every
 * signed digest in the digest channel checked against the stored chain. Exit 1 on any problem, 2 when digests are off.
 */

import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import type { Config } from '../config.ts';
import type { DigestStatement } from '../digest/digest.ts';
import { keyFingerprint, parsePublicKey } from '../digest/keys.ts';
import {
  type AnchorCheck,
  DigestHistoryError,
  type DigestMessage,
  hasProblems,
  readDigestMessages,
  type SignatureProblem,
  verifyDigests,
  type WorkspaceReport,
} from '../digest/verify.ts';
import { createLogger } from '../logger.ts';
import { createSlackClient } from '../slack/client.ts';
import type { Database } from '../store/db.ts';
import type { CliIo } from './run.ts';

export async function verifyDigestsCommand(
  config: Config,
  args: string[],
  io: CliIo,
  withDatabase: (run: (database: Database) => Promise<number>) => Promise<number>,
): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      digests: { type: 'boolean' },
      workspace: { type: 'string' },
      'public-key': { type: 'string', multiple: true },
      channel: { type: 'string' },
    },
    strict: true,
  });
  const keys: KeyObject[] = [];
  for (const file of values['public-key'] ?? []) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      io.err(`--public-key ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
      return 2;
    }
    const parsed = parsePublicKey(text);
    if (!parsed.ok) {
      io.err(`--public-key ${file}: ${parsed.problem}`);
      return 2;
    }
    keys.push(parsed.key);
  }
  if (keys.length === 0 && config.digest.signingKey) keys.push(createPublicKey(config.digest.signingKey));
  const channel = values.channel ?? config.digest.channel;
  if (!channel || keys.length === 0) {
    io.err('signed chain digests are off: set DIGEST_CHANNEL and DIGEST_SIGNING_KEY (or pass --public-key FILE)');
    return 2;
  }
  if (!config.slack.botToken) {
    io.err(`verify --digests reads the history of ${channel}: set SLACK_BOT_TOKEN (and SLACK_API_URL)`);
    return 2;
  }

  const client = createSlackClient(config.slack.botToken, config.slack.apiUrl, createLogger('warn', process.stderr));
  let messages: DigestMessage[];
  try {
    messages = await readDigestMessages(client, channel);
  } catch (error) {
    if (error instanceof DigestHistoryError) {
      io.err(error.message);
      return 1;
    }
    throw error;
  }
  return withDatabase(async (database) => {
    const report = await verifyDigests(database.db, messages, keys, values.workspace);
    for (const problem of report.signatureProblems) io.out(describeSignatureProblem(problem, keys));
    for (const workspace of report.workspaces) for (const line of describeWorkspace(workspace)) io.out(line);
    const failed = hasProblems(report);
    const signers = keys.map(keyFingerprint).join(' or ');
    const verdict = failed ? 'PROBLEMS FOUND' : 'all match';
    io.out(`${plural(report.digests, 'digest')} read from ${channel}, signed by key ${signers}: ${verdict}`);
    return failed ? 1 : 0;
  });
}

function where(statement: DigestStatement): string {
  return `the digest of ${statement.at} (workspace ${statement.workspaceId}, seq ${statement.seq})`;
}

function describeSignatureProblem(problem: SignatureProblem, keys: KeyObject[]): string {
  switch (problem.kind) {
    case 'malformed':
      return `malformed digest message ${problem.ts}: ${problem.problem}`;
    case 'unknown-key':
      return (
        `refused ${where(problem.digest.head)}: signed with key ${problem.digest.keyFingerprint}, ` +
        `not ${keys.map(keyFingerprint).join(' or ')} (pass --public-key for each key that signed digests)`
      );
    case 'bad-signature':
      return (
        `bad signature on ${where(problem.digest.head)}` +
        `${problem.part === 'checkpoint' ? ' (its checkpoint part)' : ''}: ` +
        `not made by key ${problem.digest.keyFingerprint}; the message was forged or altered (Slack ts ${problem.ts})`
      );
  }
}

function describeWorkspace(report: WorkspaceReport): string[] {
  const { workspaceId, chain, checks } = report;
  const lines: string[] = [];
  if (chain && !chain.ok) lines.push(`broken at seq ${chain.seq}: ${chain.reason} (workspace ${workspaceId})`);
  const label = (c: AnchorCheck) => (c.part === 'checkpoint' ? 'checkpoint hash' : 'hash');

  const truncated = checks.filter((c): c is Extract<AnchorCheck, { kind: 'truncated' }> => c.kind === 'truncated');
  if (truncated[0]) {
    const first = truncated[0];
    const gone = first.headSeq === 0 ? 'the workspace has no events now' : `the chain now ends at seq ${first.headSeq}`;
    const more = truncated.length > 1 ? ` (${truncated.length} digests reach past the end)` : '';
    lines.push(
      `truncated: ${where(first.statement)} signed ${label(first)} ${first.statement.hash}` +
        ` at seq ${first.statement.seq}` +
        `, but ${gone}: events after seq ${first.headSeq} were deleted${more}`,
    );
  }
  const mismatches = checks.filter((c): c is Extract<AnchorCheck, { kind: 'mismatch' }> => c.kind === 'mismatch');
  if (mismatches[0]) {
    const first = mismatches[0];
    const before = checks.filter((c) => c.kind === 'match' && c.statement.seq < first.statement.seq).at(-1);
    const stored = first.stored ?? '(no event with that seq)';
    const later = mismatches.length - 1;
    lines.push(
      `mismatch: ${where(first.statement)} signed ${label(first)} ${first.statement.hash}` +
        ` at seq ${first.statement.seq}` +
        `, the stored chain has ${stored}: the chain was rewritten at or before seq ${first.statement.seq}` +
        (before ? `, after seq ${before.statement.seq} (the digest of ${before.statement.at} still matches)` : '') +
        (later ? `; ${plural(later, 'later digest')} ${later === 1 ? 'does' : 'do'} not match either` : ''),
    );
  }
  if (chain?.ok && !truncated.length && !mismatches.length) {
    // A digest counts by its head; its checkpoint part is checked too but is not a digest of its own.
    const matched = checks.filter((c) => c.part === 'head' && c.kind === 'match');
    const covered = checks.filter((c) => c.part === 'head' && c.kind === 'covered').length;
    const latest = matched.at(-1);
    const anchored = latest
      ? `${plural(matched.length, 'digest')} ${matched.length === 1 ? 'matches' : 'match'}` +
        ` (latest: ${latest.statement.at}, seq ${latest.statement.seq})`
      : covered
        ? 'no digest newer than the checkpoint yet'
        : 'no digests yet (nothing anchored off-box)';
    const coveredText = covered ? `, ${covered} covered by the checkpoint` : '';
    lines.push(`ok ${workspaceId}: ${chain.count} events, head ${chain.head}; ${anchored}${coveredText}`);
  }
  return lines;
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}
