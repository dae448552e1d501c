/**
 * Per-method rate limits, as Slack applies them per app and workspace (chat.update is Tier 3, about 50 a minute): a
 * call beyond the limit in a sliding window is answered 429 with Retry-After, and counted, so a test can show that the
 * code paces itself rather than leaning on Slack's refusals.
 */
import type { Answer } from './http.ts';

export interface MethodRateLimit {
  calls: number;
  windowMs: number;
}

export class MethodRateLimits {
  private readonly limits = new Map<string, MethodRateLimit>();
  private readonly seen = new Map<string, number[]>();
  private readonly refused = new Map<string, number>();

  set(method: string, limit: MethodRateLimit | undefined): void {
    if (limit) this.limits.set(method, limit);
    else this.limits.delete(method);
    this.seen.delete(method);
  }

  /** A 429 when this call is over the method's limit; undefined (and counted) otherwise. */
  check(method: string, now: number): Answer | undefined {
    const limit = this.limits.get(method);
    if (!limit) return undefined;
    const recent = (this.seen.get(method) ?? []).filter((at) => now - at < limit.windowMs);
    if (recent.length >= limit.calls) {
      this.seen.set(method, recent);
      this.refused.set(method, (this.refused.get(method) ?? 0) + 1);
      const retryAfter = Math.max(1, Math.ceil((recent[0]! + limit.windowMs - now) / 1000));
      return { status: 429, body: { ok: false, error: 'ratelimited' }, headers: { 'retry-after': String(retryAfter) } };
    }
    recent.push(now);
    this.seen.set(method, recent);
    return undefined;
  }

  refusals(method: string): number {
    return this.refused.get(method) ?? 0;
  }
}
