/**
 * Posts alerts to Slack: about one message per second per channel across all worker processes, in
 * event order per channel within a process, 429s waited out (Retry-After, inside WebClient), permanent
 * errors told apart from ones worth retrying.
 */
import type { WebClient } from '@slack/web-api';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { ALERT_METADATA_TYPE, type AlertMessage } from '../slack/blocks/alert.ts';
import { loadWebApi } from '../slack/libraries.ts';

/** Errors a retry cannot fix: the alert is recorded as failed and logged once. */
const PERMANENT_ERRORS = new Set([
  'channel_not_found', 'not_in_channel', 'is_archived', 'invalid_auth', 'not_authed', 'account_inactive',
  'token_revoked', 'token_expired', 'no_permission', 'missing_scope', 'invalid_blocks', 'msg_too_long',
  'restricted_action', 'team_access_not_granted', 'ekm_access_denied', 'invalid_metadata_format',
]);

/** Whether a Slack error code is one a retry cannot fix (digests share this judgement with alerts). */
export function isPermanentSlackError(code: string): boolean {
  return PERMANENT_ERRORS.has(code);
}

export class PermanentSlackError extends Error {
  constructor(readonly code: string) {
    super(`Slack refused the alert: ${code}`);
    this.name = 'PermanentSlackError';
  }
}

/** Slack's error code of a failed call, or undefined for a network or HTTP failure. */
export function platformErrorCode(error: unknown): string | undefined {
  const e = error as { code?: string; data?: { error?: string } };
  return e.code === loadWebApi().ErrorCode.PlatformError ? e.data?.error : undefined;
}

const CHANNEL_ID = /^[CGD][A-Z0-9]{6,}$/;

/**
 * KEYS[1]: the channel's next free send time (ms, Redis clock); ARGV[1]: the interval. Returns how long
 * the caller waits for the slot it just reserved. Redis's clock, so workers on other machines agree.
 */
const RESERVE_SLOT_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
redis.call('SET', KEYS[1], slot + tonumber(ARGV[1]), 'PX', tonumber(ARGV[1]) * 100 + 60000)
return slot - now`;

export interface PostedAlert {
  channelId: string;
  ts: string;
}

export class SlackAlertSender {
  private readonly queues = new Map<
    string,
    { message: AlertMessage; order: readonly [number, number]; resolve: (posted: PostedAlert) => void; reject: (error: unknown) => void }[]
  >();
  private readonly nextSendAt = new Map<string, number>();
  private readonly channelIds = new Map<string, string>();

  constructor(
    private readonly client: WebClient,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly options: {
      minIntervalMs?: number;
      lookupChannelId?: (channel: string) => Promise<string | undefined>;
      /** Shared pacing: with it, every worker process draws its send times from one schedule per channel. */
      pacing?: { redis: Redis; prefix: string };
    } = {},
  ) {}

  /**
   * Queues the post for the channel and resolves when Slack accepted it. Posts wait for the channel's
   * next slot, and when the slot comes the earliest queued event (by `order`) goes first, so alerts
   * whose jobs ran concurrently still appear in the order their events were stored.
   */
  post(channel: string, message: AlertMessage, order: readonly [number, number] = [Date.now(), 0]): Promise<PostedAlert> {
    return new Promise((resolve, reject) => {
      const queue = this.queues.get(channel);
      const item = { message, order, resolve, reject };
      if (queue) {
        queue.push(item);
        return;
      }
      this.queues.set(channel, [item]);
      void this.pump(channel);
    });
  }

  private async pump(channel: string): Promise<void> {
    const queue = this.queues.get(channel)!;
    while (queue.length > 0) {
      const wait = await this.reserveSlot(channel).catch((error: unknown) => {
        this.logger.warn({ err: error, channel }, 'could not reserve a shared send slot; pacing in this process only');
        return 0;
      });
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      queue.sort((a, b) => a.order[0] - b.order[0] || a.order[1] - b.order[1]);
      const item = queue.shift()!;
      await this.send(channel, item.message).then(item.resolve, item.reject);
    }
    this.queues.delete(channel);
  }

  /** How long to wait before the next post to `channel`, reserving that moment for this post. */
  private async reserveSlot(channel: string): Promise<number> {
    const interval = this.options.minIntervalMs ?? 1000;
    const { pacing } = this.options;
    if (pacing) {
      const wait = await pacing.redis.eval(RESERVE_SLOT_LUA, 1, `${pacing.prefix}:slack-pace:${channel}`, interval);
      return Number(wait);
    }
    const now = Date.now();
    const slot = Math.max(now, this.nextSendAt.get(channel) ?? 0);
    this.nextSendAt.set(channel, slot + interval);
    return slot - now;
  }

  private async send(channel: string, message: AlertMessage): Promise<PostedAlert> {
    try {
      const answer = await this.client.chat.postMessage({
        channel,
        text: message.text,
        blocks: message.blocks,
        metadata: message.metadata,
        unfurl_links: false,
        unfurl_media: false,
      });
      const posted = { channelId: String(answer.channel), ts: String(answer.ts) };
      this.channelIds.set(channel, posted.channelId);
      return posted;
    } catch (error) {
      const code = platformErrorCode(error) ?? (error as { code?: string }).code ?? 'unknown';
      this.metrics.slackErrors.inc({ method: 'chat.postMessage', error: code });
      if (PERMANENT_ERRORS.has(code)) throw new PermanentSlackError(code);
      throw error;
    }
  }

  /**
   * Looks for an alert already in the channel (a post whose answer was lost in a crash), by the
   * metadata every alert carries. Needs channels:history (and groups:history for private channels).
   */
  async findPosted(channel: string, key: { workspaceId: string; eventId: string; ruleId: string }, sinceMs: number): Promise<PostedAlert | undefined> {
    const channelId = await this.resolveChannelId(channel);
    if (!channelId) return undefined;
    const ts = await findMessageByMetadata(this.client, channelId, ALERT_METADATA_TYPE, sinceMs, (payload) =>
      payload.workspace_id === key.workspaceId && payload.event_id === key.eventId && payload.rule_id === key.ruleId,
    );
    return ts ? { channelId, ts } : undefined;
  }

  /** A channel ID for a name: given as an ID, learnt from an earlier post, or looked up (channels:read). */
  private async resolveChannelId(channel: string): Promise<string | undefined> {
    if (CHANNEL_ID.test(channel)) return channel;
    const cached = this.channelIds.get(channel) ?? (await this.options.lookupChannelId?.(channel));
    if (cached) return cached;
    const found = await findChannelId(this.client, channel);
    if (found) {
      this.channelIds.set(channel, found);
      return found;
    }
    this.logger.warn({ channel }, 'could not find the channel to check for an earlier alert');
    return undefined;
  }
}

/**
 * The ts of a message in the channel (an ID) posted since `sinceMs` (less a minute of clock skew) whose metadata is of
 * `eventType` and whose payload `matches`: how a retry finds a post whose answer was lost in a crash. Reads at most
 * ten pages of history (channels:history, and groups:history for private channels).
 */
export async function findMessageByMetadata(
  client: WebClient,
  channelId: string,
  eventType: string,
  sinceMs: number,
  matches: (payload: Record<string, unknown>) => boolean,
): Promise<string | undefined> {
  let cursor: string | undefined;
  for (let page = 0; page < 10; page++) {
    const answer = await client.conversations.history({
      channel: channelId,
      oldest: ((sinceMs - 60_000) / 1000).toFixed(6),
      include_all_metadata: true,
      limit: 200,
      cursor,
    });
    for (const message of answer.messages ?? []) {
      const metadata = message.metadata as { event_type?: string; event_payload?: Record<string, unknown> } | undefined;
      const payload = metadata?.event_type === eventType ? metadata.event_payload : undefined;
      if (payload && matches(payload) && message.ts) return message.ts;
    }
    cursor = answer.response_metadata?.next_cursor || undefined;
    if (!cursor) break;
  }
  return undefined;
}

/**
 * A channel's ID from its name (`#name` or `name`) or its ID, paging conversations.list (channels:read, and
 * groups:read for private channels the app is in). Undefined when no such channel is visible.
 */
export async function findChannelId(client: WebClient, channel: string): Promise<string | undefined> {
  if (CHANNEL_ID.test(channel)) return channel;
  const name = channel.replace(/^#/, '');
  let cursor: string | undefined;
  do {
    const answer = await client.conversations.list({
      types: 'public_channel,private_channel',
      limit: 1000,
      cursor,
      exclude_archived: true,
    });
    const found = answer.channels?.find((c) => c.name === name);
    if (found?.id) return found.id;
    cursor = answer.response_metadata?.next_cursor || undefined;
  } while (cursor);
  return undefined;
}
