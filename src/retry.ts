/**
 * Retry timing, for every caller that talks to something that may be away (Segment, Postgres, Redis): the wait a
 * server asks for, exponential backoff with jitter, and why a fetch failed. Small on purpose: the callers retry by
 * timer and cursor (the forwarder, the commit sweeper) as much as in a loop (the Segment client), which a retry
 * library's loop does not fit.
 */
import { isRecord } from './json.ts';

/** Retry-After as seconds or an HTTP date, in milliseconds; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null | undefined, now = Date.now()): number | undefined {
  const trimmed = header?.trim();
  if (!trimmed) return undefined;
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** `baseMs` doubled for each attempt after the first (attempt 1 waits `baseMs`), at most `maxMs`. */
export function exponentialDelay(attempt: number, baseMs: number, maxMs = Number.POSITIVE_INFINITY): number {
  return Math.min(baseMs * 2 ** Math.min(Math.max(attempt - 1, 0), 30), maxMs);
}

/** Between half and all of `ms`, so replicas retrying together do not arrive together. */
export function withJitter(ms: number): number {
  return Math.round(ms / 2 + Math.random() * (ms / 2));
}

/** Node's fetch says only "fetch failed"; the useful part (ECONNREFUSED, ENOTFOUND…) is in its cause. */
export function networkCause(error: unknown): string {
  const cause = error instanceof Error ? (error.cause ?? error) : error;
  if (isRecord(cause) && typeof cause.code === 'string') return cause.code;
  if (isRecord(cause) && typeof cause.message === 'string') return cause.message;
  return String(cause);
}
