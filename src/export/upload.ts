/**
 * Uploads a file from disk to a channel with the calls files.uploadV2 makes (getUploadURLExternal,
 * the upload, completeUploadExternal), but streaming the bytes: uploadV2 reads a whole stream into
 * memory first, and an export can be as large as Slack accepts (1 GB).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { WebClient } from '@slack/web-api';

export async function uploadFileToChannel(
  client: WebClient,
  file: { path: string; filename: string; title: string; channelId: string; initialComment: string },
): Promise<{ fileId: string }> {
  const { size } = await stat(file.path);
  const target = await client.files.getUploadURLExternal({ filename: file.filename, length: size });
  if (!target.upload_url || !target.file_id) throw new Error('Slack gave no upload URL');
  const response = await fetch(target.upload_url, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    body: Readable.toWeb(createReadStream(file.path)) as ReadableStream,
    duplex: 'half',
  } as RequestInit & { duplex: 'half' });
  if (!response.ok) throw new Error(`uploading the file to Slack failed with HTTP ${response.status}`);
  await response.arrayBuffer();
  await client.files.completeUploadExternal({
    files: [{ id: target.file_id, title: file.title }],
    channel_id: file.channelId,
    initial_comment: file.initialComment,
  });
  return { fileId: target.file_id };
}
