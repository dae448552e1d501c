/** Event filters as clients write them: shared by GET /v1/events(.csv) and, later, /audit in Slack. */
import { z } from 'zod';
import { ALL_CATEGORIES, catalogTypeFor } from './catalog.ts';
import { DURATION_HINT, tryParseDuration } from './duration.ts';
import { ACTOR_TYPES, EARLIEST_TIMESTAMP_MS } from './events.ts';
import type { EventFilters } from './store/queries.ts';

export const TIME_HINT = `an ISO date or time (2026-11-01, 2026-11-01T10:00:00Z) or a relative time (${DURATION_HINT})`;

/** The dates a filter or cursor may name: no event is older than 1970 (SPEC section 3), none later than year 9999. */
export const EARLIEST_QUERY_TIME_MS = EARLIEST_TIMESTAMP_MS;
export const LATEST_QUERY_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Groups: 1 year, 2 month, 3 day, 4 hour, 5 minute, 6 second, 7 fraction, 8 zone, 9 sign, 10-11 offset. */
const ISO_TIME = new RegExp(
  '^(\\d{4})-(\\d{2})-(\\d{2})' +
    '(?:[T ](\\d{2}):(\\d{2})(?::(\\d{2})(?:\\.(\\d{1,9}))?)?(Z|([+-])(\\d{2}):?(\\d{2}))?)?$',
);

/**
 * `7d` → now minus seven days; an ISO date or date-time → that instant; otherwise why not, as a message.
 * Calendar fields are checked one by one, because JavaScript's Date rolls 2026-02-30 over into March.
 */
export function readTimeSpec(text: string, now = Date.now()): Date | string {
  const relative = tryParseDuration(text);
  let date: Date;
  if (relative !== undefined) date = new Date(now - relative);
  else {
    const match = ISO_TIME.exec(text);
    if (!match) return `"${text}" is not ${TIME_HINT}`;
    const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = [1, 2, 3, 4, 5, 6, 10, 11].map((i) =>
      Number(match[i] ?? 0),
    ) as [number, number, number, number, number, number, number, number];
    const daysInMonth = [31, isLeapYear(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
    const clockOk = hour <= 23 && minute <= 59 && second <= 59 && offsetHours <= 23 && offsetMinutes <= 59;
    if (day < 1 || day > daysInMonth || !clockOk) {
      return `"${text}" is not a date and time that exists`;
    }
    const millis = Number((match[7] ?? '').padEnd(3, '0').slice(0, 3));
    const fields = new Date(Date.UTC(2000, month - 1, day, hour, minute, second, millis));
    fields.setUTCFullYear(year); // Date.UTC alone would read years 0–99 as 1900–1999
    // A date or a time without a zone is read as UTC, never as the server's local time.
    const offset = (match[9] === '-' ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
    date = new Date(fields.getTime() - offset);
  }
  const ms = date.getTime();
  const named = relative === undefined ? `"${text}"` : `"${text}" ago`;
  if (!(ms >= EARLIEST_QUERY_TIME_MS)) return `${named} is before 1970-01-01 (no event is older)`;
  if (!(ms <= LATEST_QUERY_TIME_MS)) return `${named} is after 9999-12-31`;
  return date;
}

function isLeapYear(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/** readTimeSpec without the reason: the instant, or undefined when the text is not a usable time. */
export function parseTimeSpec(text: string, now = Date.now()): Date | undefined {
  const date = readTimeSpec(text, now);
  return typeof date === 'string' ? undefined : date;
}

const timeSpec = z.string().transform((text, ctx) => {
  const date = readTimeSpec(text.trim());
  if (typeof date === 'string') {
    ctx.addIssue({ code: 'custom', message: date });
    return z.NEVER;
  }
  return date;
});

// Postgres refuses NUL in text: a filter holding one could never match, and would fail as a 500.
const text = (name: string) =>
  z
    .string()
    .trim()
    .min(1, `${name} must not be empty`)
    .max(256)
    .refine((value) => !value.includes('\u0000'), 'must not contain the NUL character');

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
