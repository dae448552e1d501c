/**
 * The daily signed chain digest (SPEC section 12), run as a BullMQ job scheduler at 00:05 UTC so that one replica
 * of the scheduler role makes it each day however many run. Off, with a log line saying why, unless
 * DIGEST_CHANNEL, DIGEST_SIGNING_KEY and SLACK_BOT_TOKEN are all set.
 */
import type { RetryOptions } from '@slack/web-api';
import { type Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import { publishDigests, readDigestRun } from '../digest/publish.ts';
import { digestSetup } from '../digest/setup.ts';
import { TrackingClient } from '../forwarding/tracking-client.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { logWorkerErrors } from '../queue/connection.ts';
import { DIGEST_JOB, DIGEST_QUEUE, DIGEST_SCHEDULER_ID } from '../queue/names.ts';
import { createSlackClient } from '../slack/client.ts';
import { loadWebApi } from '../slack/libraries.ts';
import type { Db } from '../store/db.ts';

/** 00:05 UTC: the day's digest, just after midnight, well before the 03:17 retention purge. */
export const DIGEST_CRON = '5 0 * * *';

export interface DigestScheduleOptions {
  /** Job attempts after a failed post or forward (Slack or Segment unreachable); default 8, about an hour. */
  attempts?: number;
  /** First retry delay, doubled per attempt; default 30 s. */
  backoffMs?: number;
  /** Gap between two digest posts (one per workspace) to the channel; default 1000 ms. */
  minIntervalMs?: number;
  /** WebClient retry policy override (tests use a rapid one). */
  slackRetryConfig?: RetryOptions;
  /** How long to wait before scheduling again when Redis was away at start. */
  scheduleRetryMs?: number;
}

export interface DigestSchedule {
  /** Registers the job scheduler (retrying in the background while Redis is away) and starts the worker. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Registers the job scheduler again (it throws while Redis is away); undefined while digests are off. */
  register: (() => Promise<void>) | undefined;
}

export function createDigestSchedule(deps: {
  config: Config;
  db: Db;
  /** The digest queue (its connection fails fast while Redis is away). */
  queue: Queue;
  /** For the worker (blocks, retries forever). */
  connection: Redis;
  metrics: Metrics;
  logger: Logger;
  options?: DigestScheduleOptions;
}): DigestSchedule {
  const { config, logger, metrics, options = {} } = deps;
  const setup = digestSetup(config);
  let worker: Worker | undefined;
  let retryTimer: NodeJS.Timeout | undefined;
  let stopping = false;

  async function upsert(target: Queue): Promise<void> {
    await target.upsertJobScheduler(
      DIGEST_SCHEDULER_ID,
      { pattern: DIGEST_CRON, tz: 'UTC' },
      {
        name: DIGEST_JOB,
        opts: {
          attempts: options.attempts ?? 8,
          backoff: { type: 'exponential', delay: options.backoffMs ?? 30_000 },
          removeOnComplete: { count: 30 },
          removeOnFail: { count: 30 },
        },
      },
    );
  }

  async function schedule(target: Queue): Promise<void> {
    try {
      await upsert(target);
    } catch (error) {
      if (stopping) return;
      const retryMs = options.scheduleRetryMs ?? 30_000;
      logger.warn({ err: error }, `could not schedule the daily chain digest yet; retrying in ${retryMs / 1000} s`);
      retryTimer = setTimeout(() => void schedule(target), retryMs).unref();
    }
  }

  return {
    register: setup.on ? () => upsert(deps.queue) : undefined,
    async start() {
      if (!setup.on) {
        if (setup.partial) logger.warn(setup.reason);
        else logger.info(setup.reason);
        return;
      }
      const retryConfig = options.slackRetryConfig;
      const client = createSlackClient(config.slack.botToken, config.slack.apiUrl, logger, { retryConfig });
      client.on(loadWebApi().WebClientEvent.RATE_LIMITED, (_seconds: number, request: { url?: string }) => {
        if (request.url?.endsWith('chat.postMessage')) metrics.digestRateLimited.inc();
      });
      const publisher = {
        db: deps.db,
        client,
        channel: setup.channel,
        signingKey: setup.signingKey,
        tracking: new TrackingClient({ trackingUrl: config.segment.trackingUrl }),
        logger,
        metrics,
        minIntervalMs: options.minIntervalMs,
      };
      await schedule(deps.queue);
      worker = new Worker(
        DIGEST_QUEUE,
        async (job) => {
          if (job.name !== DIGEST_JOB) throw new UnrecoverableError(`unknown digest job ${job.name}`);
          const log = logger.child({ job: job.name, jobId: job.id, attempt: job.attemptsMade + 1 });
          const result = await publishDigests({ ...publisher, logger: log }, readDigestRun(job.progress), {
            onProgress: (run) => job.updateProgress(run),
          });
          // A refusal is for the operator to fix (invite the app, fix the channel): retrying would post nothing.
          if (result.kind === 'refused') throw new UnrecoverableError(result.message);
          if (result.kind === 'retry') throw new Error(result.reason);
          log.info(result, `posted ${result.posted} chain digests (${result.forwarded} forwarded to Segment)`);
          return result;
        },
        { connection: deps.connection, prefix: config.queuePrefix, concurrency: 1 },
      );
      logWorkerErrors(worker, logger, 'digest worker error');
      logger.info({ channel: setup.channel, cron: DIGEST_CRON }, 'signed chain digests are on');
    },
    async stop() {
      stopping = true;
      clearTimeout(retryTimer);
      await worker?.close();
    },
  };
}
