/**
 * Posts alerts to Slack: about one message per second per channel, in order per channel, 429s waited
 * out (Retry-After, inside WebClient), permanent errors told apart from ones worth retrying.
 */
import { ErrorCode, type WebClient } from '@slack/web-api';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { ALERT_METADATA_TYPE, type AlertMessage } from '../slack/blocks/alert.ts';

/** Errors a retry cannot fix: the alert is recorded as failed and logged once. */
const PERMANENT_ERRORS = new Set([
  'channel_not_found', 'not_in_channel', 'is_archived', 'invalid_auth', 'not_authed', 'account_inactive',
  'token_revoked', 'token_expired', 'no_permission', 'missing_scope', 'invalid_blocks', 'msg_too_long',
  'restricted_action', 'team_access_not_granted', 'ekm_access_denied', 'invalid_metadata_format',
]);

export class PermanentSlackError extends Error {
  constructor(readonly code: string) {
    super(`Slack refused the alert: ${code}`);
    this.name = 'PermanentSlackError';
  }
}

/** Slack's error code of a failed call, or undefined for a network or HTTP failure. */
function platformErrorCode(error: unknown): string | undefined {
  const e = error as { code?: string; data?: { error?: string } };
  return e.code === ErrorCode.PlatformError ? e.data?.error : undefined;
}

const CHANNEL_ID = /^[CGD][A-Z0-9]{6,}$/;

export interface PostedAlert {
  channelId: string;
  ts: string;
}

export class SlackAlertSender {
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly nextSendAt = new Map<string, number>();
  private readonly channelIds = new Map<string, string>();

  constructor(
    private readonly client: WebClient,
    private readonly logger: Logger,
    private readonly metrics: Metrics,
    private readonly options: { minIntervalMs?: number; lookupChannelId?: (channel: string) => Promise<string | undefined> } = {},
  ) {}

  /** Queues the post behind earlier ones for the same channel and resolves when Slack accepted it. */
  post(channel: string, message: AlertMessage): Promise<PostedAlert> {
    const previous = this.chains.get(channel) ?? Promise.resolve();
    const next = previous.catch(() => {}).then(() => this.paced(channel, message));
    this.chains.set(channel, next);
    void next.finally(() => {
      if (this.chains.get(channel) === next) this.chains.delete(channel);
    }).catch(() => {});
    return next;
  }

  private async paced(channel: string, message: AlertMessage): Promise<PostedAlert> {
    const wait = (this.nextSendAt.get(channel) ?? 0) - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
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
    } finally {
      this.nextSendAt.set(channel, Date.now() + (this.options.minIntervalMs ?? 1000));
    }
  }

  /**
   * Looks for an alert already in the channel (a post whose answer was lost in a crash), by the
   * metadata every alert carries. Needs channels:history (and groups:history for private channels).
   */
  async findPosted(channel: string, key: { workspaceId: string; eventId: string; ruleId: string }, sinceMs: number): Promise<PostedAlert | undefined> {
    const channelId = await this.resolveChannelId(channel);
    if (!channelId) return undefined;
    let cursor: string | undefined;
    for (let page = 0; page < 10; page++) {
      const answer = await this.client.conversations.history({
        channel: channelId,
        oldest: ((sinceMs - 60_000) / 1000).toFixed(6),
        include_all_metadata: true,
        limit: 200,
        cursor,
      });
      for (const message of answer.messages ?? []) {
        const metadata = message.metadata as { event_type?: string; event_payload?: Record<string, unknown> } | undefined;
        const payload = metadata?.event_payload;
        if (
          metadata?.event_type === ALERT_METADATA_TYPE &&
          payload?.workspace_id === key.workspaceId &&
          payload?.event_id === key.eventId &&
          payload?.rule_id === key.ruleId &&
          message.ts
        ) {
          return { channelId, ts: message.ts };
        }
      }
      cursor = answer.response_metadata?.next_cursor || undefined;
      if (!cursor) break;
    }
    return undefined;
  }

  /** A channel ID for a name: given as an ID, learnt from an earlier post, or looked up (channels:read). */
  private async resolveChannelId(channel: string): Promise<string | undefined> {
    if (CHANNEL_ID.test(channel)) return channel;
    const cached = this.channelIds.get(channel) ?? (await this.options.lookupChannelId?.(channel));
    if (cached) return cached;
    const name = channel.replace(/^#/, '');
    let cursor: string | undefined;
    do {
      const answer = await this.client.conversations.list({ types: 'public_channel,private_channel', limit: 1000, cursor, exclude_archived: true });
      const found = answer.channels?.find((c) => c.name === name);
      if (found?.id) {
        this.channelIds.set(channel, found.id);
        return found.id;
      }
      cursor = answer.response_metadata?.next_cursor || undefined;
    } while (cursor);
    this.logger.warn({ channel }, 'could not find the channel to check for an earlier alert');
    return undefined;
  }
}
