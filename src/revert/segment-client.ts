/**
 * A small client for the Segment Public API (api.segmentapis.com): bearer token, JSON, a timeout per attempt,
 * retries for rate limits, 5xx and network errors, and failures turned into a SegmentApiError with a readable reason.
 */
import { isRecord } from '../json.ts';
import type { Logger } from '../logger.ts';
import { exponentialDelay, networkCause, retryAfterMs, withJitter } from '../retry.ts';

export interface RetryPolicy {
  /** Retries after a 429. */
  rateLimitRetries: number;
  /** Retries after a 5xx, a timeout or a network error. */
  serverErrorRetries: number;
  /** First backoff after a 5xx or network error, doubling per retry (1 s doubling when a 429 names no wait). */
  baseDelayMs: number;
  /** The longest single wait: a rate limit asking for more gives up at once, as retryable, instead of stalling. */
  maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = Object.freeze({
  rateLimitRetries: 3,
  serverErrorRetries: 2,
  baseDelayMs: 500,
  // Segment's rate-limit window is a minute (its documented example asks for 57.6 s), so a revert waits that out
  // rather than failing: the click was acknowledged at once and the alert is updated when the revert ends.
  maxDelayMs: 60_000,
});

export const DEFAULT_TIMEOUT_MS = 10_000;

export interface SegmentClientOptions {
  /** SEGMENT_API_URL, e.g. `https://api.segmentapis.com`; a trailing slash is dropped. */
  apiUrl: string;
  apiToken: string;
  logger?: Logger;
  fetchImpl?: typeof fetch;
  /** Per attempt, not per call. */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  /** How a wait between attempts is spent; tests pass one that records the wait instead of sitting it out. */
  sleep?: (ms: number) => Promise<void>;
}

/** What Segment answers inside its `{ data: … }` envelope. */
export type SegmentData = Record<string, unknown>;

export interface SegmentClient {
  get(path: string): Promise<SegmentData>;
  patch(path: string, body: Record<string, unknown>): Promise<SegmentData>;
}

export type SegmentFailureKind =
  | 'unauthorized'
  | 'not-found'
  | 'rejected'
  | 'rate-limited'
  | 'server-error'
  | 'timeout'
  | 'network'
  | 'bad-response';

/** A failed Public API call. `message` is the readable `reason`; neither ever carries the token. */
export class SegmentApiError extends Error {
  readonly kind: SegmentFailureKind;
  /** The HTTP status, or undefined when no answer came (timeout, network error). */
  readonly status: number | undefined;
  readonly method: string;
  readonly path: string;
  /** Segment's own `errors[].message`s, token redacted. */
  readonly messages: readonly string[];
  readonly reason: string;
  readonly retryable: boolean;
  /** For a 429: how long Segment asked us to wait (Retry-After, msBeforeNext or X-RateLimit-Reset), when it said. */
  readonly retryAfterMs: number | undefined;

  constructor(fields: {
    kind: SegmentFailureKind;
    status?: number;
    method: string;
    path: string;
    messages?: readonly string[];
    reason: string;
    retryable: boolean;
    retryAfterMs?: number;
  }) {
    super(fields.reason);
    this.name = 'SegmentApiError';
    this.kind = fields.kind;
    this.status = fields.status;
    this.method = fields.method;
    this.path = fields.path;
    this.messages = fields.messages ?? [];
    this.reason = fields.reason;
    this.retryable = fields.retryable;
    this.retryAfterMs = fields.retryAfterMs;
  }
}

const MAX_MESSAGES = 5;
const MAX_MESSAGE_CHARS = 300;

type Attempt = { ok: true; data: SegmentData } | { ok: false; error: SegmentApiError };

export function createSegmentClient(options: SegmentClientOptions): SegmentClient {
  const baseUrl = options.apiUrl.replace(/\/+$/, '');
  const { apiToken, logger } = options;
  const fetchImpl = options.fetchImpl ?? globalThis.fetch;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const sleep = options.sleep ?? wait;

  /** Segment echoes input in some messages; the token must not ride along into Slack or the log. */
  const redact = (text: string): string => (apiToken ? text.replaceAll(apiToken, '[redacted]') : text);

  async function attempt(method: string, path: string, body: Record<string, unknown> | undefined): Promise<Attempt> {
    let response: Response;
    let text: string;
    try {
      response = await fetchImpl(`${baseUrl}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${apiToken}`,
          accept: 'application/vnd.segment.v1+json, application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/vnd.segment.v1+json' }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      return { ok: false, error: transportError(method, path, error) };
    }

    const json = parseJson(text);
    if (response.ok) {
      if (text.trim() === '') return { ok: true, data: {} };
      if (!isRecord(json)) {
        return {
          ok: false,
          error: new SegmentApiError({
            kind: 'bad-response',
            status: response.status,
            method,
            path,
            retryable: false,
            reason: `Segment answered ${method} ${path} with ${response.status} but no JSON object`,
          }),
        };
      }
      // Every Public API answer wraps its payload in `data`.
      return { ok: true, data: isRecord(json.data) ? json.data : json };
    }

    const messages = errorMessages(json).map(redact);
    const retryAfterMs = response.status === 429 ? rateLimitWaitMs(response, json) : undefined;
    return { ok: false, error: httpError(response.status, method, path, messages, retryAfterMs) };
  }

  function transportError(method: string, path: string, error: unknown): SegmentApiError {
    if (error instanceof Error && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
      return new SegmentApiError({
        kind: 'timeout',
        method,
        path,
        retryable: true,
        reason: `Segment did not answer ${method} ${path} within ${formatSeconds(timeoutMs)}`,
      });
    }
    return new SegmentApiError({
      kind: 'network',
      method,
      path,
      retryable: true,
      reason: `could not reach Segment for ${method} ${path} (${redact(networkCause(error))})`,
    });
  }

  async function request(method: string, path: string, body?: Record<string, unknown>): Promise<SegmentData> {
    let rateLimitRetries = 0;
    let failureRetries = 0;
    for (let attemptNo = 1; ; attemptNo++) {
      const result = await attempt(method, path, body);
      if (result.ok) return result.data;
      const { error } = result;

      let waitMs: number;
      if (error.kind === 'rate-limited') {
        waitMs = error.retryAfterMs ?? exponentialDelay(rateLimitRetries + 1, 1000);
        if (rateLimitRetries >= policy.rateLimitRetries) {
          throw withReason(
            error,
            `Segment kept rate-limiting ${method} ${path} (429) after ${rateLimitRetries} retries; ` +
              'try again in a minute',
          );
        }
        if (waitMs > policy.maxDelayMs) {
          throw withReason(
            error,
            `Segment is rate-limiting ${method} ${path} (429) for another ${formatSeconds(waitMs)}; try again then`,
          );
        }
        rateLimitRetries++;
      } else if (error.retryable) {
        if (failureRetries >= policy.serverErrorRetries) {
          throw attemptNo > 1 ? withReason(error, `${error.reason} (gave up after ${attemptNo} attempts)`) : error;
        }
        waitMs = withJitter(exponentialDelay(failureRetries + 1, policy.baseDelayMs));
        failureRetries++;
      } else {
        throw error;
      }

      logger?.warn(
        { method, path, status: error.status, kind: error.kind, attempt: attemptNo, waitMs },
        'Segment Public API call failed; retrying',
      );
      await sleep(waitMs);
    }
  }

  return {
    get: (path) => request('GET', path),
    patch: (path, body) => request('PATCH', path, body),
  };
}

/** The readable reason for an HTTP failure; 404 is left generic here, the caller knows which resource it meant. */
function httpError(
  status: number,
  method: string,
  path: string,
  messages: readonly string[],
  retryAfterMs?: number,
): SegmentApiError {
  const detail = messages.length ? `: ${messages.join('; ')}` : '';
  const base = { status, method, path, messages };
  if (status === 401 || status === 403) {
    return new SegmentApiError({
      ...base,
      kind: 'unauthorized',
      retryable: false,
      reason: `the Segment API token was refused (${status})${detail}`,
    });
  }
  if (status === 404) {
    return new SegmentApiError({
      ...base,
      kind: 'not-found',
      retryable: false,
      reason: `${method} ${path} not found (404)${detail}`,
    });
  }
  if (status === 429) {
    const reason = `Segment is rate-limiting requests (429)${detail}`;
    return new SegmentApiError({
      ...base,
      kind: 'rate-limited',
      retryable: true,
      reason,
      ...(retryAfterMs !== undefined && { retryAfterMs }),
    });
  }
  if (status >= 500) {
    return new SegmentApiError({
      ...base,
      kind: 'server-error',
      retryable: true,
      reason: `Segment had a server error (${status})${detail}`,
    });
  }
  const what = messages.length ? messages.join('; ') : `${method} ${path} was refused`;
  return new SegmentApiError({
    ...base,
    kind: 'rejected',
    retryable: false,
    reason: `Segment rejected the change: ${what} (${status})`,
  });
}

function withReason(error: SegmentApiError, reason: string): SegmentApiError {
  const { kind, status, method, path, messages, retryable, retryAfterMs } = error;
  return new SegmentApiError({
    kind,
    ...(status === undefined ? {} : { status }),
    method,
    path,
    messages,
    retryable,
    reason,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  });
}

/** `errors[].message` from Segment's RequestErrorEnvelope, trimmed for a Slack message. */
function errorMessages(body: unknown): string[] {
  if (!isRecord(body) || !Array.isArray(body.errors)) return [];
  return body.errors
    .map((entry) => (isRecord(entry) && typeof entry.message === 'string' ? entry.message.trim() : ''))
    .filter((message) => message !== '')
    .slice(0, MAX_MESSAGES)
    .map((message) => (message.length > MAX_MESSAGE_CHARS ? `${message.slice(0, MAX_MESSAGE_CHARS - 1)}…` : message));
}

/**
 * How long a 429 asks us to wait: `Retry-After` (seconds or a date) when sent; otherwise Segment's documented
 * `errors[].data.msBeforeNext`, then its `X-RateLimit-Reset` date; undefined leaves it to the exponential fallback.
 */
function rateLimitWaitMs(response: Response, body: unknown): number | undefined {
  const retryAfter = retryAfterMs(response.headers.get('retry-after'));
  if (retryAfter !== undefined) return retryAfter;
  if (isRecord(body) && Array.isArray(body.errors)) {
    for (const entry of body.errors) {
      const ms = isRecord(entry) && isRecord(entry.data) ? entry.data.msBeforeNext : undefined;
      if (typeof ms === 'number' && Number.isFinite(ms) && ms >= 0) return ms;
    }
  }
  const reset = response.headers.get('x-ratelimit-reset');
  if (reset && /[a-z]/i.test(reset)) {
    const at = Date.parse(reset);
    if (!Number.isNaN(at)) return Math.max(0, at - Date.now());
  }
  return undefined;
}

function formatSeconds(ms: number): string {
  const seconds = ms / 1000;
  return `${Number.isInteger(seconds) ? seconds : seconds.toFixed(1)} s`;
}

function wait(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
