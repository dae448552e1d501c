/**
 * One POST to the Segment HTTP Tracking API's `/batch`, sorted into what the forwarder should do next. Segment
 * answers 200 to everything it can parse, 400 to a batch over its size limits or not JSON, and 401/403 to a bad
 * write key; the statuses its own analytics-node retries (408, 410, 429, 460, and 5xx but 501, 505 and 511) are load,
 * outages and throttling.
 */
import { networkCause, retryAfterMs } from '../retry.ts';

export type BatchOutcome =
  | { kind: 'delivered'; status: number }
  /** Try the same batch again later: what analytics-node retries (RETRIED_STATUSES), network errors, timeouts. */
  | { kind: 'retry'; status?: number; reason: string; retryAfterMs?: number }
  /**
   * Segment will never take this batch as it is: any other 4xx, 501/505/511. A refused write key (401/403) is one of
   * them, as analytics-node has it; its reason says to check the key, and every batch after it is refused too until
   * an owner sets the right one (`/audit forward on`).
   */
  | { kind: 'rejected'; status: number; reason: string }
  /** The forwarder is stopping; nothing is known about the batch. */
  | { kind: 'aborted' };

export interface TrackingClientOptions {
  /** `SEGMENT_TRACKING_URL`, e.g. `https://api.segment.io/v1`, without a trailing slash. */
  trackingUrl: string;
  timeoutMs?: number;
}

/**
 * Besides 429 and 5xx: 408 (timeout), 410 and 460 are what Segment's analytics-node also retries, so Segment uses them
 * for conditions that pass.
 */
const RETRIED_STATUSES: ReadonlySet<number> = new Set([408, 410, 460]);
/** 5xx that analytics-node does not retry: the request itself will never work (not implemented, HTTP version). */
const FINAL_SERVER_STATUSES: ReadonlySet<number> = new Set([501, 505, 511]);

/** How much of Segment's error text is kept for status and the log. */
const MAX_REASON = 300;

export class TrackingClient {
  private readonly batchUrl: string;

  constructor(private readonly options: TrackingClientOptions) {
    this.batchUrl = `${options.trackingUrl.replace(/\/+$/, '')}/batch`;
  }

  /** Posts `body` (a `{"batch":[…]}` JSON text) with the write key as the basic auth user and an empty password. */
  async postBatch(writeKey: string, body: string, stop?: AbortSignal): Promise<BatchOutcome> {
    const timeout = AbortSignal.timeout(this.options.timeoutMs ?? 15_000);
    const signal = stop ? AbortSignal.any([timeout, stop]) : timeout;
    let response: Response;
    let text: string;
    try {
      response = await fetch(this.batchUrl, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`,
          'content-type': 'application/json',
          'user-agent': 'audit-trail',
        },
        body,
        signal,
      });
      text = await response.text();
    } catch (error) {
      if (stop?.aborted) return { kind: 'aborted' };
      if (timeout.aborted)
        return { kind: 'retry', reason: `no answer from Segment within ${this.options.timeoutMs ?? 15_000} ms` };
      return { kind: 'retry', reason: `could not reach Segment: ${networkCause(error)}` };
    }
    const { status } = response;
    if (status >= 200 && status < 300) return { kind: 'delivered', status };
    const reason = redactKey(`${status} ${segmentMessage(text) ?? response.statusText}`.trim(), writeKey);
    if (status === 429)
      return { kind: 'retry', status, reason, retryAfterMs: retryAfterMs(response.headers.get('retry-after')) };
    if (status === 401 || status === 403)
      return { kind: 'rejected', status, reason: `${reason} (check the source's write key)` };
    if (RETRIED_STATUSES.has(status) || (status >= 500 && !FINAL_SERVER_STATUSES.has(status))) {
      return { kind: 'retry', status, reason };
    }
    if (status >= 400) return { kind: 'rejected', status, reason };
    // 1xx/3xx: fetch follows redirects, so this is a misconfigured SEGMENT_TRACKING_URL; keep the events and retry.
    return { kind: 'retry', status, reason: `unexpected ${reason}` };
  }
}

/** Segment's Tracking API error body is `{ "success": false, "message": "…" }`; anything else is quoted briefly. */
function segmentMessage(text: string): string | undefined {
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && 'message' in parsed && typeof parsed.message === 'string')
      return parsed.message.slice(0, MAX_REASON);
  } catch {
    // not JSON: quote it
  }
  return text.replace(/\s+/g, ' ').slice(0, MAX_REASON);
}

/** A server that echoes the request would put the write key in the reason, which status shows and the log keeps. */
function redactKey(text: string, writeKey: string): string {
  return writeKey ? text.replaceAll(writeKey, maskWriteKey(writeKey)) : text;
}

/** The only form of a write key that is ever shown or logged: its last 4 characters. */
export function maskWriteKey(writeKey: string): string {
  return `…${writeKey.slice(-4)}`;
}
