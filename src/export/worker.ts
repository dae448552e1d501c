/**
 * The `/audit export` job: builds the CSV in the background, streamed to a temp file, and uploads it to the channel.
 */
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { WebClient } from '@slack/web-api';
import { UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import { logWorkerErrors } from '../queue/connection.ts';
import { EXPORTS_QUEUE, type ExportJob, exportJobFilters, exportJobSchema } from '../queue/names.ts';
import { describeFilters } from '../slack/command/describe.ts';
import { escapeMrkdwn, slackDate } from '../slack/mrkdwn.ts';
import type { Database } from '../store/db.ts';
import { csvRecordTimestamp, eventsCsv } from './csv.ts';
import { uploadFileToChannel } from './upload.ts';

/** Upload errors a retry cannot fix. */
const UNFIXABLE_UPLOAD_ERRORS = new Set([
  'not_in_channel',
  'channel_not_found',
  'is_archived',
  'invalid_auth',
  'missing_scope',
  'file_uploads_disabled',
  'file_upload_size_restricted',
]);

function uploadedFileOf(progress: unknown): string | undefined {
  const id = (progress as { uploadedFileId?: unknown } | null)?.uploadedFileId;
  return typeof id === 'string' ? id : undefined;
}

export function createExportWorker(deps: {
  database: Database;
  client: WebClient;
  connection: Redis;
  prefix: string;
  logger: Logger;
}): Worker<ExportJob> {
  const worker = new Worker<ExportJob>(
    EXPORTS_QUEUE,
    async (job) => {
      const parsed = exportJobSchema.safeParse(job.data);
      if (!parsed.success) throw new UnrecoverableError(`invalid export job: ${parsed.error.message}`);
      const { workspaceId, channelId, userId } = parsed.data;
      const filters = exportJobFilters(parsed.data.filters);
      const log = deps.logger.child({ jobId: job.id, workspaceId, channelId });
      // A retry of a job whose upload went through (it failed later) must not post the file twice.
      const done = uploadedFileOf(job.progress);
      if (done) {
        log.info({ fileId: done }, 'export was already uploaded by an earlier attempt');
        return { fileId: done };
      }
      const dir = await mkdtemp(join(tmpdir(), 'audit-export-'));
      try {
        const stamp = new Date().toISOString().replace(/[:.]/g, '-');
        const filename = `audit-${workspaceId.replace(/[^\w.-]/g, '_')}-${stamp}.csv`;
        const path = join(dir, filename);
        let rows = 0;
        let first: Buffer | undefined;
        let last: Buffer | undefined;
        const started = Date.now();
        await pipeline(
          eventsCsv(deps.database, workspaceId, filters, (record) => {
            rows += 1;
            first ??= record;
            last = record;
            if (rows % 50_000 === 0) void job.updateProgress({ rows }).catch(() => {});
          }),
          createWriteStream(path),
        );
        // Newest first: the first row is the newest event, the last the oldest.
        const newest = first && csvRecordTimestamp(first);
        const oldest = last && csvRecordTimestamp(last);
        const described = describeFilters(filters);
        const scope = described ? ` (${escapeMrkdwn(described)})` : '';
        if (rows === 0) {
          await deps.client.chat.postEphemeral({
            channel: channelId,
            user: userId,
            text: `No audit events match${scope}; there is nothing to export.`,
          });
          log.info('export matched nothing');
          return { rows };
        }
        const summary =
          `Audit export for <@${userId}>: ${rows.toLocaleString('en-US')} event${rows === 1 ? '' : 's'} ` +
          `from ${slackDate(oldest!)} to ${slackDate(newest!)}${scope}`;
        try {
          const { fileId } = await uploadFileToChannel(deps.client, {
            path,
            filename,
            title: filename,
            channelId,
            initialComment: summary,
          });
          await job.updateProgress({ rows, uploadedFileId: fileId });
        } catch (error) {
          const code = (error as { data?: { error?: string } }).data?.error;
          if (!code || !UNFIXABLE_UPLOAD_ERRORS.has(code)) throw error; // transient: BullMQ retries the job
          // Retrying cannot help; tell the person who asked, in the channel, only to them.
          const invite = code === 'not_in_channel' ? ' Invite the app to this channel (/invite) and export again.' : '';
          await deps.client.chat
            .postEphemeral({
              channel: channelId,
              user: userId,
              text:
                `The export of ${rows.toLocaleString('en-US')} events could not be uploaded: ` +
                `Slack answered \`${code}\`.${invite}`,
            })
            .catch((notified: unknown) => log.warn({ err: notified }, 'could not tell the user the export failed'));
          throw new UnrecoverableError(`export upload refused by Slack: ${code}`);
        }
        log.info({ rows, ms: Date.now() - started }, 'export uploaded');
        return { rows };
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
    { connection: deps.connection, prefix: deps.prefix, concurrency: 2 },
  );
  worker.on('failed', (job, error) => deps.logger.warn({ jobId: job?.id, err: error }, 'export failed'));
  logWorkerErrors(worker, deps.logger, 'export worker error');
  return worker;
}
