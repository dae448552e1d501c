/**
 * Slack's external upload: files.getUploadURLExternal hands out an upload URL, the bytes are posted to it, and
 * files.completeUploadExternal shares the file in a channel.
 */
import { Buffer } from 'node:buffer';
import { isRecord } from '../../../src/json.ts';
import { type Answer, type Handler, notFound, ok, type Parsed, platformError, str } from './http.ts';
import type { SlackState } from './state.ts';
import type { FakeFile, FakeFileObject } from './types.ts';

export function fileMethods(state: SlackState): Record<string, Handler> {
  return {
    'files.getUploadURLExternal': (body) => {
      const filename = str(body.filename);
      const length = Number(body.length);
      if (!filename || !Number.isInteger(length) || length < 0) return platformError('invalid_arguments');
      const id = state.nextFileId();
      const token = Buffer.from(`upload:${id}:${Date.now()}`).toString('base64url');
      state.files.set(id, { id, filename, length, completed: false });
      state.uploadTokens.set(token, id);
      return ok({ upload_url: `${state.origin}/upload/v1/${token}`, file_id: id });
    },

    'files.completeUploadExternal': (body) => {
      if (!Array.isArray(body.files) || body.files.length === 0) return platformError('invalid_arguments');
      const target = str(body.channel_id) ?? str(body.channels)?.split(',')[0];
      const channel = target === undefined ? undefined : state.channelById(target);
      if (target !== undefined && !channel) return platformError('channel_not_found');
      const completed: FakeFileObject[] = [];
      for (const entry of body.files as unknown[]) {
        const id = isRecord(entry) ? str(entry.id) : undefined;
        const file = id ? state.files.get(id) : undefined;
        if (!file?.bytes) return platformError('file_not_found');
        const title = isRecord(entry) ? str(entry.title) : undefined;
        Object.assign(file, {
          completed: true,
          title: title ?? file.filename,
          ...(channel ? { channel: channel.id } : {}),
          ...(str(body.initial_comment) ? { initial_comment: str(body.initial_comment) } : {}),
          ...(str(body.thread_ts) ? { thread_ts: str(body.thread_ts) } : {}),
        });
        completed.push(fileObject(file, state.teamId, state.botUserId));
      }
      if (channel) {
        // Sharing a file posts a message carrying it, which is what people in the channel see.
        state.messages.push({
          channel: channel.id,
          type: 'message',
          ts: state.nextTs(),
          text: str(body.initial_comment) ?? '',
          user: state.botUserId,
          bot_id: state.botId,
          app_id: state.appId,
          team: state.teamId,
          files: completed,
          upload: true,
          ...(str(body.thread_ts) ? { thread_ts: str(body.thread_ts) } : {}),
        });
      }
      return ok({ files: completed });
    },
  };
}

/** The bytes posted to an upload URL (`/upload/v1/<token>`), raw or as a multipart file. */
export function receiveUpload(state: SlackState, fileId: string | undefined, parsed: Parsed): Answer {
  const bytes = parsed.files[0]?.bytes ?? parsed.raw;
  const file = fileId ? state.files.get(fileId) : undefined;
  if (!file) return notFound();
  file.bytes = bytes;
  return { status: 200, body: `OK - ${bytes.length}`, headers: { 'content-type': 'text/plain' } };
}

function fileObject(file: FakeFile, teamId: string, botUserId: string): FakeFileObject {
  const created = Math.floor(Date.now() / 1000);
  const extension = /\.([\w]+)$/.exec(file.filename)?.[1]?.toLowerCase() ?? 'text';
  return {
    id: file.id,
    created,
    timestamp: created,
    name: file.filename,
    title: file.title ?? file.filename,
    mimetype: extension === 'csv' ? 'text/csv' : 'application/octet-stream',
    filetype: extension,
    pretty_type: extension.toUpperCase(),
    user: botUserId,
    user_team: teamId,
    editable: false,
    size: file.bytes?.length ?? file.length,
    mode: 'hosted',
    is_external: false,
    external_type: '',
    is_public: file.channel !== undefined,
    public_url_shared: false,
    display_as_bot: false,
    username: '',
    url_private: `https://files.slack.com/files-pri/${teamId}-${file.id}/${file.filename}`,
    url_private_download: `https://files.slack.com/files-pri/${teamId}-${file.id}/download/${file.filename}`,
    permalink: `https://fake-workspace.slack.com/files/${botUserId}/${file.id}/${file.filename}`,
    comments_count: 0,
    is_starred: false,
    shares: {},
    channels: file.channel ? [file.channel] : [],
    groups: [],
    ims: [],
    has_more_shares: false,
    has_rich_preview: false,
    file_access: 'visible',
  };
}
