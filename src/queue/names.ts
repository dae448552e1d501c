/** Queue and job names, and the payload schema of each job. */
import { z } from 'zod';
import { ACTOR_TYPES } from '../events.ts';
import type { EventFilters } from '../store/queries.ts';

/** The alert queue: one job per committed range of a workspace's events. */
export const AUDIT_EVENTS_QUEUE = 'audit-events';
export const ALERT_RANGE_JOB = 'alert-range';
/** One job per event, as versions before range jobs enqueued them; still read so an upgrade drops none. */
export const AUDIT_EVENT_JOB = 'audit-event';

/**
 * The marker key (under the queue prefix) holding the epoch Postgres recorded for this Redis: a Redis without it has
 * lost the queue (see outbox/redis-epoch.ts).
 */
export const REDIS_EPOCH_KEY = 'audit-trail-epoch';

export const MAINTENANCE_QUEUE = 'audit-maintenance';
export const RETENTION_JOB = 'retention-purge';
export const RETENTION_SCHEDULER_ID = 'daily-retention-purge';

/** Signed chain digests have a queue of their own, so a digest waiting out Slack never holds up the purge. */
export const DIGEST_QUEUE = 'audit-digests';
export const DIGEST_JOB = 'chain-digest';
export const DIGEST_SCHEDULER_ID = 'daily-chain-digest';

/**
 * The events of one workspace with fromSeq <= seq <= toSeq, as committed: a range, not the events, so Postgres stays
 * the one source of truth, a job costs the relay one Redis call however many events it covers, and payloads stay small.
 */
export const alertRangeJobSchema = z
  .strictObject({
    workspaceId: z.string().min(1),
    fromSeq: z.number().int().positive(),
    toSeq: z.number().int().positive(),
  })
  .refine((range) => range.fromSeq <= range.toSeq, 'fromSeq must not be above toSeq');
export type AlertRangeJob = z.infer<typeof alertRangeJobSchema>;

/** The per-event payload of AUDIT_EVENT_JOB (earlier versions). */
export const auditEventJobSchema = z.strictObject({
  workspaceId: z.string().min(1),
  eventId: z.string().min(1),
  seq: z.number().int().positive(),
});

/**
 * The range a job on the alert queue covers, whichever version enqueued it; a problem string when its payload is not
 * one this code can read (a retry cannot fix that).
 */
export function alertJobRange(name: string, data: unknown): AlertRangeJob | string {
  if (name === AUDIT_EVENT_JOB) {
    const legacy = auditEventJobSchema.safeParse(data);
    if (!legacy.success) return `invalid ${AUDIT_EVENT_JOB} job payload: ${legacy.error.message}`;
    return { workspaceId: legacy.data.workspaceId, fromSeq: legacy.data.seq, toSeq: legacy.data.seq };
  }
  const range = alertRangeJobSchema.safeParse(data);
  return range.success ? range.data : `invalid ${ALERT_RANGE_JOB} job payload: ${range.error.message}`;
}

/**
 * One job per range, however often the relay offers it (a crash between Redis accepting the job and the cursor moving
 * offers it again): BullMQ ignores an add whose id exists. URI-encoded because BullMQ reserves ":".
 */
export function alertRangeJobId(range: AlertRangeJob): string {
  return `${encodeURIComponent(range.workspaceId)}/${range.fromSeq}-${range.toSeq}`;
}

/** Revert all runs (revert/revert-all.ts): queued by the click, run by a worker, never in the click handler. */
export const REVERT_ALL_QUEUE = 'audit-revert-all';
export const REVERT_ALL_JOB = 'revert-all';

/** A run of a group's Revert all; what it covers was committed with the run's claim (store/alert-groups.ts). */
export const revertAllJobSchema = z.strictObject({
  workspaceId: z.string().min(1),
  groupId: z.number().int().positive(),
  run: z.number().int().positive(),
});
export type RevertAllJob = z.infer<typeof revertAllJobSchema>;

/**
 * One job per run, however often it is added (a second click, or the relay's start, re-adds a run's job in case it was
 * lost); after a Redis wipe, one per run and epoch (see revert/revert-all.ts requeueRevertRuns).
 */
export function revertAllJobId(job: RevertAllJob, epoch?: string): string {
  return `revert-all-${job.groupId}-${job.run}${epoch ? `-${epoch}` : ''}`;
}

export const EXPORTS_QUEUE = 'audit-exports';
export const EXPORT_JOB = 'csv-export';

/** What `/audit export` enqueues and the export worker consumes. Filters travel as JSON: dates as ISO strings. */
export const exportJobSchema = z.strictObject({
  workspaceId: z.string().min(1),
  channelId: z.string().min(1),
  userId: z.string().min(1),
  filters: z.strictObject({
    types: z.array(z.string()).optional(),
    category: z.string().optional(),
    actor: z.string().optional(),
    actorType: z.enum(ACTOR_TYPES).optional(),
    resourceType: z.string().optional(),
    resourceId: z.string().optional(),
    since: z.iso.datetime().optional(),
    until: z.iso.datetime().optional(),
  }),
});
export type ExportJob = z.infer<typeof exportJobSchema>;

/** The export job for a request: who asked, in which channel, for which events. */
export function exportJob(request: {
  workspaceId: string;
  channelId: string;
  userId: string;
  filters: EventFilters;
}): ExportJob {
  const { filters } = request;
  return {
    workspaceId: request.workspaceId,
    channelId: request.channelId,
    userId: request.userId,
    filters: {
      ...filters,
      types: filters.types ? [...filters.types] : undefined,
      since: filters.since?.toISOString(),
      until: filters.until?.toISOString(),
    },
  };
}

/** The filters of an export job (checked with exportJobSchema), as the store takes them. */
export function exportJobFilters(filters: ExportJob['filters']): EventFilters {
  return {
    ...filters,
    since: filters.since ? new Date(filters.since) : undefined,
    until: filters.until ? new Date(filters.until) : undefined,
  };
}

/** One job per slash command: Slack's retry of the same command (same trigger id) is the same export. */
export function exportJobId(triggerId: string): string {
  return `export-${triggerId}`;
}
