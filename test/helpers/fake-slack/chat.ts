/** chat.postMessage, chat.update and chat.postEphemeral: messages in channels, and the ones only one user sees. */
import { invalidContent, isMetadata } from './block-kit.ts';
import { type Handler, ok, platformError, str } from './http.ts';
import type { SlackState, StoredMessage } from './state.ts';
import type { EphemeralMessage } from './types.ts';

export function chatMethods(state: SlackState): Record<string, Handler> {
  return {
    'chat.postMessage': (body) => {
      const target = str(body.channel);
      if (!target) return platformError('channel_not_found');
      const invalid = invalidContent(body);
      if (invalid) return invalid;
      const channel = state.ensureChannel(target);
      channel.isMember = true;
      const message: StoredMessage = {
        channel: channel.id,
        type: 'message',
        ts: state.nextTs(),
        text: str(body.text) ?? '',
        user: state.botUserId,
        bot_id: state.botId,
        app_id: state.appId,
        team: state.teamId,
        ...(Array.isArray(body.blocks) ? { blocks: body.blocks } : {}),
        ...(Array.isArray(body.attachments) ? { attachments: body.attachments } : {}),
        ...(isMetadata(body.metadata) ? { metadata: body.metadata } : {}),
        ...(str(body.thread_ts) ? { thread_ts: str(body.thread_ts) } : {}),
      };
      state.messages.push(message);
      return ok({ channel: channel.id, ts: message.ts, message: state.publicMessage(message) });
    },

    'chat.update': (body) => {
      const channel = state.channelById(body.channel);
      if (!channel) return platformError('channel_not_found');
      const message = state.messages.find((m) => m.channel === channel.id && m.ts === body.ts);
      if (!message) return platformError('message_not_found');
      if (body.text === undefined && body.blocks === undefined && body.attachments === undefined)
        return platformError('no_text');
      const invalid = invalidContent(body);
      if (invalid) return invalid;
      // Fields left out keep their old value, as Slack documents for chat.update.
      if (typeof body.text === 'string') message.text = body.text;
      if (Array.isArray(body.blocks)) message.blocks = body.blocks;
      if (Array.isArray(body.attachments)) message.attachments = body.attachments;
      if (isMetadata(body.metadata)) message.metadata = body.metadata;
      message.edited = { user: state.botUserId, ts: state.nextTs() };
      return ok({ channel: channel.id, ts: message.ts, text: message.text, message: state.publicMessage(message) });
    },

    'chat.postEphemeral': (body) => {
      const target = str(body.channel);
      const user = str(body.user);
      if (!target) return platformError('channel_not_found');
      if (!user) return platformError('user_not_found');
      const invalid = invalidContent(body);
      if (invalid) return invalid;
      const channel = state.ensureChannel(target);
      const ephemeral: EphemeralMessage = {
        channel: channel.id,
        user,
        text: str(body.text) ?? '',
        ...(Array.isArray(body.blocks) ? { blocks: body.blocks } : {}),
        message_ts: state.nextTs(),
      };
      state.ephemerals.push(ephemeral);
      return ok({ message_ts: ephemeral.message_ts });
    },
  };
}
