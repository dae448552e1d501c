/**
 * Talks to Slack for the alert dispatcher (dispatch.ts): the shared one-post-a-second pace per channel, and the pace of
 * chat.update across the workspace, both drawn from Redis so every worker process keeps them; the post and the update
 * themselves (429s waited out inside WebClient, Retry-After); permanent errors told apart from ones worth retrying;
 * and the look in the channel for a post whose answer was lost.
 */

import type { types } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { ALERT_METADATA_TYPE } from '../slack/blocks/alert.ts';
import { loadWebApi } from '../slack/libraries.ts';

/** Errors a retry cannot fix: the alert is recorded as failed and logged once. */
const PERMANENT_ERRORS = new Set([
  'channel_not_found',
  'not_in_channel',
  'is_archived',
  'invalid_auth',
  'not_authed',
  'account_inactive',
  'token_revoked',
  'token_expired',
  'no_permission',
  'missing_scope',
  'invalid_blocks',
  'msg_too_long',
  'restricted_action',
  'team_access_not_granted',
  'ekm_access_denied',
  'invalid_metadata_format',
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

/** What the sender posts: an alert (slack/blocks/alert.ts) or a grouped alert (slack/blocks/grouped-alert.ts). */
export interface OutgoingMessage {
  text: string;
  blocks: types.KnownBlock[];
  metadata: { event_type: string; event_payload: Record<string, string | number> };
}

export interface PostedAlert {
  channelId: string;
  ts: string;
}

/** Errors of chat.update a retry cannot fix: the message is gone, or not ours to edit any more. */
const PERMANENT_UPDATE_ERRORS = new Set([
  ...PERMANENT_ERRORS,
  'message_not_found',
  'cant_update_message',
  'edit_window_closed',
  'invalid_ts',
  'is_inactive',
]);

export class SlackAlertSender {
  private readonly nextSendAt = new Map<string, number>();
  private readonly channelIds = new Map<string, string>();

  constructor(
    private readonly client: WebClient,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly options: {
      minIntervalMs?: number;
      /**
       * Gap between two chat.update calls across the workspace: Slack allows that method about 50 a minute (its Tier
       * 3), shared by every message the app edits, so grouped messages and Revert all progress take turns.
       */
      updateIntervalMs?: number;
      lookupChannelId?: (channel: string) => Promise<string | undefined>;
      /** Shared pacing: with it, every worker process draws its send times from one schedule per channel. */
      pacing?: { redis: Redis; prefix: string };
    } = {},
  ) {}

  /** How long to wait before the next post to `channel`, reserving that moment for the caller. */
  reservePostSlot(channel: string): Promise<number> {
    return this.reserveSlot(`slack-pace:${channel}`, this.options.minIntervalMs ?? 1000);
  }

  /** How long to wait before the next chat.update, reserving that moment for the caller. */
  reserveUpdateSlot(): Promise<number> {
    return this.reserveSlot('slack-pace:chat.update', this.options.updateIntervalMs ?? 1200);
  }

  private async reserveSlot(key: string, interval: number): Promise<number> {
    const { pacing } = this.options;
    if (pacing) {
      const reserved = pacing.redis.eval(RESERVE_SLOT_LUA, 1, `${pacing.prefix}:${key}`, interval);
      const wait = await reserved.catch((error: unknown) => {
        this.logger.warn({ err: error, key }, 'could not reserve a shared send slot; pacing in this process only');
        return undefined;
      });
      if (wait !== undefined) return Number(wait);
    }
    const now = Date.now();
    const slot = Math.max(now, this.nextSendAt.get(key) ?? 0);
    this.nextSendAt.set(key, slot + interval);
    return slot - now;
  }

  /** Posts now (the caller has waited for its slot) and resolves when Slack accepted the message. */
  async post(channel: string, message: OutgoingMessage): Promise<PostedAlert> {
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
      throw this.classified('chat.postMessage', error, PERMANENT_ERRORS);
    }
  }

  /** Replaces a posted message's content (the caller has waited for its slot); metadata is sent again unchanged. */
  async update(at: PostedAlert, message: OutgoingMessage): Promise<void> {
    try {
      await this.client.chat.update({
        channel: at.channelId,
        ts: at.ts,
        text: message.text,
        blocks: message.blocks,
        metadata: message.metadata,
      });
    } catch (error) {
      throw this.classified('chat.update', error, PERMANENT_UPDATE_ERRORS);
    }
  }

  private classified(method: string, error: unknown, permanent: ReadonlySet<string>): unknown {
    const code = platformErrorCode(error) ?? (error as { code?: string }).code ?? 'unknown';
    this.metrics.slackErrors.inc({ method, error: code });
    return permanent.has(code) ? new PermanentSlackError(code) : error;
  }

  /**
   * Looks for an alert already in the channel (a post whose answer was lost in a crash), by the
   * metadata every alert carries. Needs channels:history (and groups:history for private channels).
   */
  async findPosted(
    channel: string,
    key: { workspaceId: string; eventId: string; ruleId: string },
    sinceMs: number,
  ): Promise<PostedAlert | undefined> {
    const channelId = await this.resolveChannelId(channel);
    if (!channelId) return undefined;
    const ts = await findMessageByMetadata(
      this.client,
      channelId,
      ALERT_METADATA_TYPE,
      sinceMs,
      (payload) =>
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
