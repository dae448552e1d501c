/** Queue and job names, and the payload schema of each job. */
import { z } from 'zod';

export const AUDIT_EVENTS_QUEUE = 'audit-events';
export const AUDIT_EVENT_JOB = 'audit-event';

export const MAINTENANCE_QUEUE = 'audit-maintenance';
export const RETENTION_JOB = 'retention-purge';
export const RETENTION_SCHEDULER_ID = 'daily-retention-purge';

/** Signed chain digests have a queue of their own, so a digest waiting out Slack never holds up the purge. */
export const DIGEST_QUEUE = 'audit-digests';
export const DIGEST_JOB = 'chain-digest';
export const DIGEST_SCHEDULER_ID = 'daily-chain-digest';

/** A reference, not the event: Postgres stays the one source of truth and job payloads stay small. */
export const auditEventJobSchema = z.strictObject({
  workspaceId: z.string().min(1),
  eventId: z.string().min(1),
  seq: z.number().int().positive(),
});
export type AuditEventJob = z.infer<typeof auditEventJobSchema>;

/**
 * One job per event, whoever enqueues it and however often: BullMQ ignores an add whose id exists.
 * Ids are URI-encoded because BullMQ reserves ":" and producers may use it in their ids.
 */
export function auditEventJobId(workspaceId: string, eventId: string): string {
  return `${encodeURIComponent(workspaceId)}/${encodeURIComponent(eventId)}`;
}

export const EXPORTS_QUEUE = 'audit-exports';
export const EXPORT_JOB = 'csv-export';

/** Filters travel as JSON: dates as ISO strings. */
export const exportJobSchema = z.strictObject({
  workspaceId: z.string().min(1),
  channelId: z.string().min(1),
  userId: z.string().min(1),
  filters: z.strictObject({
    types: z.array(z.string()).optional(),
    category: z.string().optional(),
    actor: z.string().optional(),
    actorType: z.enum(['user', 'token', 'system']).optional(),
    resourceType: z.string().optional(),
    resourceId: z.string().optional(),
    since: z.iso.datetime().optional(),
    until: z.iso.datetime().optional(),
  }),
});
export type ExportJob = z.infer<typeof exportJobSchema>;
