/**
 * The scheduler role: registers the daily retention purge and the daily signed chain digest, and runs them (each
 * once a day across replicas); and, with SEGMENT_PULL_WORKSPACE, imports Segment's own audit trail on its interval
 * (one replica at a time). Work that happens on a clock lives here, away from the workers that scale with traffic.
 */
import type { RetryOptions } from '@slack/web-api';
import type { Worker } from 'bullmq';
import { IMPORT_ERROR_KINDS, SegmentImporter, type SegmentImporterOptions } from '../ingest/segment-pull.ts';
import { DIGEST_SCHEDULER_ID, RETENTION_SCHEDULER_ID } from '../queue/names.ts';
import { createDigestSchedule, type DigestScheduleOptions } from '../scheduler/digest.ts';
import { type KeptSchedule, keepScheduled, type ScheduleWatch } from '../scheduler/keep-scheduled.ts';
import { createMaintenanceWorker, scheduleRetention } from '../scheduler/retention.ts';
import type { Role, SharedInfrastructure } from './role.ts';

/** How long to wait before trying again to register the schedule while Redis is down. */
const SCHEDULE_RETRY_MS = 30_000;

export interface SchedulerRoleOptions {
  /** Daily chain digest job knobs (tests use short backoffs and no pacing). */
  digests?: DigestScheduleOptions;
  /** WebClient retry policy override for the digest posts (tests use a rapid one). */
  slackRetryConfig?: RetryOptions;
  /** Segment import knobs (tests use a short overlap and backoff). */
  segmentImport?: Partial<
    Pick<SegmentImporterOptions, 'overlapMs' | 'pageSize' | 'backoffBaseMs' | 'maxBackoffMs' | 'timeoutMs'>
  >;
  /** How often to check that the daily schedules are still in Redis (default 10 s). */
  scheduleCheckMs?: number;
}

export function createSchedulerRole(shared: SharedInfrastructure, options: SchedulerRoleOptions = {}): Role {
  const { config, logger } = shared;
  // Signed chain digests (SPEC section 12); off without DIGEST_CHANNEL and the key, with a log line saying so.
  const digests = createDigestSchedule({
    config,
    db: shared.database.db,
    queue: shared.queues.digests,
    connection: shared.redis('bullmq'),
    metrics: shared.metrics,
    logger: logger.child({ role: 'scheduler', component: 'digest' }),
    options: { slackRetryConfig: options.slackRetryConfig, ...options.digests },
  });
  let stopping = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let worker: Worker | undefined;
  const importer = createSegmentImport(shared, options);
  let watch: ScheduleWatch | undefined;

  // Redis may be down at start: keep trying in the background rather than hold up ingest.
  const schedule = (): Promise<void> =>
    scheduleRetention(shared.queues.maintenance).catch((error: unknown) => {
      logger.warn({ err: error }, 'could not schedule the retention purge yet; retrying in 30 s');
      if (!stopping) retryTimer = setTimeout(() => void schedule(), SCHEDULE_RETRY_MS).unref();
    });

  return {
    async start() {
      await schedule();
      worker = createMaintenanceWorker({
        db: shared.database.db,
        connection: shared.redis('bullmq'),
        prefix: config.queuePrefix,
        retentionDays: config.retentionDays,
        logger: logger.child({ role: 'scheduler' }),
      });
      await digests.start();
      const { maintenance, digests: digestQueue } = shared.queues;
      const kept: KeptSchedule[] = [
        {
          name: 'retention',
          queue: maintenance,
          schedulerId: RETENTION_SCHEDULER_ID,
          register: () => scheduleRetention(maintenance),
        },
      ];
      if (digests.register) {
        kept.push({ name: 'digest', queue: digestQueue, schedulerId: DIGEST_SCHEDULER_ID, register: digests.register });
      }
      watch = keepScheduled(kept, {
        redis: shared.producerRedis,
        logger: logger.child({ role: 'scheduler' }),
        onRestored: (name) => shared.metrics.schedulesRestored.inc({ schedule: name }),
        intervalMs: options.scheduleCheckMs,
      });
      await importer?.start();
    },
    async stop() {
      stopping = true;
      watch?.stop();
      clearTimeout(retryTimer);
      await Promise.all([worker?.close(), digests.stop(), importer?.stop()]);
    },
  };
}

/**
 * The Segment import, or undefined (with a start-up line saying so) without SEGMENT_PULL_WORKSPACE. Its metrics are
 * on /metrics either way, at 0, so a dashboard shows no data only when the scheduler is not running.
 */
function createSegmentImport(shared: SharedInfrastructure, options: SchedulerRoleOptions): SegmentImporter | undefined {
  const { config, metrics } = shared;
  for (const kind of IMPORT_ERROR_KINDS) metrics.importErrors.inc({ kind }, 0);
  metrics.importedEvents.inc(0);
  const log = shared.logger.child({ role: 'scheduler', component: 'segment-import' });
  const pull = config.segment.pull;
  if (!pull) {
    log.info(
      "SEGMENT_PULL_WORKSPACE is not set: Segment's audit trail is not imported (POST /v1/segment still takes pushes)",
    );
    return undefined;
  }
  log.info(
    { workspaceId: pull.workspaceId, intervalMs: pull.intervalMs },
    "importing Segment's audit trail from the Public API",
  );
  return new SegmentImporter(shared.database.db, log, {
    ...options.segmentImport,
    workspaceId: pull.workspaceId,
    apiUrl: config.segment.apiUrl,
    apiToken: config.segment.apiToken,
    intervalMs: pull.intervalMs,
    sinceMs: pull.sinceMs,
    onImported: (events) => metrics.importedEvents.inc(events),
    onError: (kind) => metrics.importErrors.inc({ kind }),
    onSuccess: (at) => metrics.importLastSuccess.set(at.getTime() / 1000),
  });
}
