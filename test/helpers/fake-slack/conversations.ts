/** conversations.history and conversations.list: what a worker reads to see whether an alert was already posted. */
import { Buffer } from 'node:buffer';
import { type Handler, ok, platformError, str, truthy } from './http.ts';
import type { Channel, SlackState } from './state.ts';

export function conversationMethods(state: SlackState): Record<string, Handler> {
  return {
    'conversations.history': (body) => {
      const channel = state.channelById(body.channel);
      if (!channel) return platformError('channel_not_found');
      const limit = Math.min(Math.max(Number(body.limit ?? 100) || 100, 1), 999);
      const inclusive = truthy(body.inclusive);
      const oldest = tsMicros(str(body.oldest) ?? '0');
      if (oldest === undefined) return platformError('invalid_ts_oldest');
      const latest = body.latest === undefined ? undefined : (tsMicros(String(body.latest)) ?? null);
      if (latest === null) return platformError('invalid_ts_latest');
      const start = cursorValue(body.cursor, 'next_ts');
      if (body.cursor !== undefined && body.cursor !== '' && start === undefined)
        return platformError('invalid_cursor');
      const startAt = start === undefined ? undefined : tsMicros(start);
      if (start !== undefined && startAt === undefined) return platformError('invalid_cursor');
      // History lists channel messages and thread parents newest first; replies live in conversations.replies.
      const matching = state.messages
        .filter((m) => m.channel === channel.id && (m.thread_ts === undefined || m.thread_ts === m.ts))
        .filter((m) => {
          const at = tsMicros(m.ts)!; // ours, always well formed
          if (inclusive ? at < oldest : at <= oldest) return false;
          if (latest !== undefined && (inclusive ? at > latest : at >= latest)) return false;
          return startAt === undefined || at <= startAt;
        })
        .sort((a, b) => (tsMicros(b.ts)! > tsMicros(a.ts)! ? 1 : -1));
      const page = matching.slice(0, limit);
      const next = matching[limit];
      return ok({
        messages: page.map((m) => state.publicMessage(m, truthy(body.include_all_metadata))),
        has_more: next !== undefined,
        pin_count: 0,
        channel_actions_ts: null,
        channel_actions_count: 0,
        response_metadata: { next_cursor: next ? cursor('next_ts', next.ts) : '' },
      });
    },

    'conversations.list': (body) => {
      const limit = Math.min(Math.max(Number(body.limit ?? 100) || 100, 1), 1000);
      const all = [...state.channelsById.values()];
      const after = cursorValue(body.cursor, 'team');
      const from = after === undefined ? 0 : all.findIndex((c) => c.id === after);
      const page = all.slice(Math.max(from, 0), Math.max(from, 0) + limit);
      const next = all[Math.max(from, 0) + limit];
      return ok({
        channels: page.map((c) => channelObject(c, state.teamId, state.botUserId)),
        response_metadata: { next_cursor: next ? cursor('team', next.id) : '' },
      });
    },
  };
}

function channelObject(channel: Channel, teamId: string, botUserId: string): Record<string, unknown> {
  return {
    id: channel.id,
    name: channel.name,
    is_channel: true,
    is_group: false,
    is_im: false,
    is_mpim: false,
    is_private: false,
    created: channel.created,
    is_archived: false,
    is_general: channel.name === 'general',
    unlinked: 0,
    name_normalized: channel.name,
    is_shared: false,
    is_org_shared: false,
    is_pending_ext_shared: false,
    pending_shared: [],
    context_team_id: teamId,
    updated: channel.created * 1000,
    creator: botUserId,
    is_ext_shared: false,
    shared_team_ids: [teamId],
    pending_connected_team_ids: [],
    is_member: channel.isMember,
    topic: { value: '', creator: '', last_set: 0 },
    purpose: { value: '', creator: '', last_set: 0 },
    previous_names: [],
    num_members: 1,
  };
}

/** Slack cursors are opaque base64 strings; these ones carry a prefix and where the next page starts. */
function cursor(prefix: string, value: string): string {
  return Buffer.from(`${prefix}:${value}`).toString('base64');
}

function cursorValue(value: unknown, prefix: string): string | undefined {
  if (typeof value !== 'string' || value === '') return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  return decoded.startsWith(`${prefix}:`) ? decoded.slice(prefix.length + 1) : undefined;
}

/** A Slack timestamp as microseconds, for exact comparison; undefined when it is not one. */
function tsMicros(ts: string): bigint | undefined {
  const match = /^(\d+)(?:\.(\d{1,6}))?$/.exec(ts);
  if (!match?.[1]) return undefined;
  return BigInt(match[1]) * 1_000_000n + BigInt((match[2] ?? '').padEnd(6, '0'));
}
