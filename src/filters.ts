/** Event filters as clients write them: shared by GET /v1/events(.csv) and, later, /audit in Slack. */
import { z } from 'zod';
import { ALL_CATEGORIES, catalogTypeFor } from './catalog.ts';
import { DURATION_HINT, tryParseDuration } from './duration.ts';
import { ACTOR_TYPES } from './events.ts';
import type { EventFilters } from './store/queries.ts';

export const TIME_HINT = `an ISO date or time (2026-11-01, 2026-11-01T10:00:00Z) or a relative time (${DURATION_HINT})`;

/** `7d` → now minus seven days; an ISO date or date-time → that instant; anything else → undefined. */
export function parseTimeSpec(text: string, now = Date.now()): Date | undefined {
  const relative = tryParseDuration(text);
  if (relative !== undefined) return new Date(now - relative);
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) return undefined;
  // A date or a time without a zone is read as UTC, never as the server's local time.
  const normalised = text.length === 10 ? `${text}T00:00:00Z` : /(Z|[+-]\d{2}:?\d{2})$/.test(text) ? text : `${text}Z`;
  const date = new Date(normalised.replace(' ', 'T'));
  return Number.isNaN(date.getTime()) ? undefined : date;
}

const timeSpec = z.string().transform((text, ctx) => {
  const date = parseTimeSpec(text.trim());
  if (!date) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not ${TIME_HINT}` });
    return z.NEVER;
  }
  return date;
});

const text = (name: string) => z.string().trim().min(1, `${name} must not be empty`).max(256);

export const filterFieldsSchema = z.object({
  // Events are stored under the catalog type, so `type=Warehouse Disabled` (Segment's wire name) asks for that.
  types: z
    .array(text('type'))
    .max(50, 'at most 50 types')
    .transform((types) => [...new Set(types.map((type) => catalogTypeFor(type) ?? type))])
    .optional(),
  category: z
    .string()
    .refine((c) => ALL_CATEGORIES.includes(c), { message: `must be one of: ${ALL_CATEGORIES.join(', ')}` })
    .optional(),
  actor: text('actor').optional(),
  actorType: z.enum(ACTOR_TYPES, { message: `must be one of ${ACTOR_TYPES.join(', ')}` }).optional(),
  resourceType: text('resourceType').optional(),
  resourceId: text('resourceId').optional(),
  since: timeSpec.optional(),
  until: timeSpec.optional(),
});

export function checkRange(filters: EventFilters): string | undefined {
  if (filters.since && filters.until && filters.since >= filters.until) return 'since must be earlier than until';
  return undefined;
}
