/**
 * Makes each workspace's digest and delivers it: a message in DIGEST_CHANNEL and, where audit forwarding is on, an
 * `Audit Digest` track call to the workspace's Segment source. Shared by the daily job and `npm run cli -- digest`.
 *
 * Idempotent across retries: the caller keeps `DigestRun` (the job keeps it as its progress), so a retry sends
 * only what did not go out, and sends the same signed digest rather than a new one.
 */
import { createHash, type KeyObject } from 'node:crypto';
import type { WebClient } from '@slack/web-api';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { isPermanentSlackError, platformErrorCode } from '../alerting/slack-sender.ts';
import type { TrackingClient } from '../forwarding/tracking-client.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { chainAnchors } from '../store/anchors.ts';
import type { Db } from '../store/db.ts';
import { forwarding } from '../store/schema/index.ts';
import { digestMetadata, digestText, makeDigest, type SignedDigest } from './digest.ts';

/** What happened to one workspace's digest so far in a run. */
export interface DigestDelivery {
  digest: SignedDigest;
  /** Where Slack put the message, once it did. */
  posted?: { channelId: string; ts: string };
  /** `sent` to Segment, `off` (forwarding off), or `refused` by Segment (not retried); unset while still to do. */
  forwarded?: 'sent' | 'off' | 'refused';
}

/** A run's state by workspace: JSON, kept between attempts. */
export type DigestRun = Record<string, DigestDelivery>;

const statementSchema = z.strictObject({
  workspaceId: z.string(),
  seq: z.number().int(),
  hash: z.string(),
  at: z.string(),
});
const deliverySchema = z.strictObject({
  digest: z.strictObject({
    head: statementSchema,
    signature: z.string(),
    checkpoint: z.strictObject({ seq: z.number().int(), hash: z.string(), signature: z.string() }).optional(),
    keyFingerprint: z.string(),
  }),
  posted: z.strictObject({ channelId: z.string(), ts: z.string() }).optional(),
  forwarded: z.enum(['sent', 'off', 'refused']).optional(),
});

/** A run kept by an earlier attempt (the job's progress); anything else starts a fresh run. */
export function readDigestRun(progress: unknown): DigestRun {
  const parsed = z.record(z.string(), deliverySchema).safeParse(progress);
  return parsed.success ? parsed.data : {};
}

export type DigestRunResult =
  | { kind: 'done'; posted: number; forwarded: number; workspaces: number }
  /** Slack refused the post in a way a retry cannot fix (not_in_channel, channel_not_found, invalid_auth…). */
  | { kind: 'refused'; code: string; message: string; unposted: number }
  /** Slack or Segment could not be reached (after the client's own retries): try again later. */
  | { kind: 'retry'; reason: string };

export interface DigestPublisherDeps {
  db: Db;
  client: WebClient;
  channel: string;
  signingKey: KeyObject;
  /** Set when forwarding can be used (it always can: forwarding is per workspace, in Postgres). */
  tracking?: TrackingClient;
  logger: Logger;
  metrics?: Metrics;
  /** Gap between two posts to the channel: Slack asks for about one message per second per channel. */
  minIntervalMs?: number;
}

/** How many workspaces go by between two saves of the run. */
const PROGRESS_EVERY = 25;

/** The text an operator needs when Slack refuses the digest post for good. */
export function refusalMessage(code: string, channel: string): string {
  switch (code) {
    case 'not_in_channel':
      return `Slack answered not_in_channel for DIGEST_CHANNEL ${channel}: invite the app to it (/invite @audit-trail)`;
    case 'channel_not_found':
      return (
        `Slack answered channel_not_found for DIGEST_CHANNEL ${channel}: check the name or ID, ` +
        'and invite the app if the channel is private'
      );
    case 'is_archived':
      return `DIGEST_CHANNEL ${channel} is archived: unarchive it or choose another channel`;
    default:
      return `Slack refused the digest post to DIGEST_CHANNEL ${channel}: ${code}`;
  }
}

/**
 * Makes and delivers the digests of every workspace (or one), continuing `run`. Expected failures are the result;
 * `onProgress` is called before a failure is returned (and every few workspaces) so the caller can keep `run`.
 */
export async function publishDigests(
  deps: DigestPublisherDeps,
  run: DigestRun = {},
  options: { workspace?: string; onProgress?: (run: DigestRun) => Promise<void> } = {},
): Promise<DigestRunResult> {
  const anchors = await chainAnchors(deps.db, options.workspace);
  let lastPostAt = 0;
  let posted = 0;
  let forwarded = 0;

  for (const [index, anchor] of anchors.entries()) {
    // A retry sends the digest the first attempt made, not a new one.
    const delivery = run[anchor.workspaceId] ?? { digest: makeDigest(anchor, deps.signingKey, new Date()) };
    run[anchor.workspaceId] = delivery;
    const log = deps.logger.child({ workspaceId: anchor.workspaceId, seq: delivery.digest.head.seq });

    if (!delivery.posted) {
      const wait = lastPostAt + (deps.minIntervalMs ?? 1000) - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      lastPostAt = Date.now();
      const outcome = await postDigest(deps, delivery.digest);
      if (outcome.kind === 'refused') {
        const unposted = anchors.slice(index).filter((a) => !run[a.workspaceId]?.posted).length;
        deps.metrics?.digestPosts.inc({ outcome: 'failed' }, unposted);
        const message = refusalMessage(outcome.code, deps.channel);
        log.error({ error: outcome.code, channel: deps.channel, unposted }, message);
        await options.onProgress?.(run);
        return { kind: 'refused', code: outcome.code, message, unposted };
      }
      if (outcome.kind === 'retry') {
        deps.metrics?.digestPosts.inc({ outcome: 'retried' });
        log.warn({ reason: outcome.reason }, 'could not post the chain digest; will retry');
        await options.onProgress?.(run);
        return { kind: 'retry', reason: outcome.reason };
      }
      delivery.posted = outcome.posted;
      deps.metrics?.digestPosts.inc({ outcome: 'posted' });
      deps.metrics?.digestLastPosted.set(Date.now() / 1000);
      log.info({ ...outcome.posted, hash: delivery.digest.head.hash }, 'posted chain digest');
    }
    posted += 1;

    const forward = await forwardOnce(deps, delivery, log);
    if (forward === 'retry') {
      await options.onProgress?.(run);
      return { kind: 'retry', reason: `could not forward the digest of ${anchor.workspaceId} to Segment` };
    }
    if (delivery.forwarded === 'sent') forwarded += 1;
    // Kept every few workspaces rather than after each (the run grows with them): a crash between saves re-posts
    // at most that many digests, which is harmless, as each is a true signed statement.
    if ((index + 1) % PROGRESS_EVERY === 0) await options.onProgress?.(run);
  }
  return { kind: 'done', posted, forwarded, workspaces: anchors.length };
}

type PostOutcome =
  | { kind: 'posted'; posted: { channelId: string; ts: string } }
  | { kind: 'refused'; code: string }
  | { kind: 'retry'; reason: string };

async function postDigest(deps: DigestPublisherDeps, digest: SignedDigest): Promise<PostOutcome> {
  try {
    // 429s are waited out inside the client (Retry-After), as for alerts.
    const answer = await deps.client.chat.postMessage({
      channel: deps.channel,
      text: digestText(digest),
      metadata: digestMetadata(digest),
      unfurl_links: false,
      unfurl_media: false,
    });
    return { kind: 'posted', posted: { channelId: String(answer.channel), ts: String(answer.ts) } };
  } catch (error) {
    const code = platformErrorCode(error) ?? (error as { code?: string }).code ?? 'unknown';
    deps.metrics?.slackErrors.inc({ method: 'chat.postMessage', error: code });
    if (isPermanentSlackError(code)) return { kind: 'refused', code };
    return { kind: 'retry', reason: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * Sends the digest to the workspace's Segment source when forwarding is on, as a track call that is not a stored
 * event: the chain is left as it is, and Segment de-duplicates a resend on the messageId derived from the signature.
 */
async function forwardOnce(
  deps: DigestPublisherDeps,
  delivery: DigestDelivery,
  log: Logger,
): Promise<'done' | 'retry'> {
  if (delivery.forwarded || !deps.tracking) return 'done';
  const { workspaceId } = delivery.digest.head;
  const [settings] = await deps.db
    .select({ enabled: forwarding.enabled, writeKey: forwarding.writeKey })
    .from(forwarding)
    .where(eq(forwarding.workspaceId, workspaceId));
  if (!settings?.enabled || !settings.writeKey) {
    delivery.forwarded = 'off';
    return 'done';
  }
  const body = JSON.stringify({ batch: [digestTrackCall(delivery.digest)] });
  const outcome = await deps.tracking.postBatch(settings.writeKey, body);
  switch (outcome.kind) {
    case 'delivered':
      delivery.forwarded = 'sent';
      deps.metrics?.digestForwards.inc({ outcome: 'delivered' });
      return 'done';
    case 'rejected':
      delivery.forwarded = 'refused';
      deps.metrics?.digestForwards.inc({ outcome: 'failed' });
      log.error({ status: outcome.status, reason: outcome.reason }, 'Segment refused the forwarded chain digest');
      return 'done';
    default: {
      deps.metrics?.digestForwards.inc({ outcome: 'retried' });
      const reason = 'reason' in outcome ? outcome.reason : 'stopping';
      log.warn({ reason }, 'could not forward the digest to Segment; will retry');
      return 'retry';
    }
  }
}

/** The digest as a Segment track call: the same fields as the Slack metadata, so one recipe checks both. */
export function digestTrackCall(digest: SignedDigest): Record<string, unknown> {
  return {
    type: 'track',
    event: 'Audit Digest',
    userId: 'audit-trail',
    messageId: `audit-digest-${createHash('sha256').update(digest.signature).digest('hex').slice(0, 32)}`,
    timestamp: digest.head.at,
    properties: digestMetadata(digest).event_payload,
    context: { library: { name: 'audit-trail' } },
  };
}
