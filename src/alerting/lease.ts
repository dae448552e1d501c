/**
 * A lease in Redis: at most one holder at a time across every worker process, renewed while held, and lapsing on its
 * own when the holder dies (SIGKILL, a lost machine), so another process takes over after `ttlMs` at the latest.
 */
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';

/** KEYS[1]: the lease; ARGV: token, ttl. Extends the lease only if this token still holds it. */
const RENEW_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`;

/** KEYS[1]: the lease; ARGV: token. Gives the lease up only if this token holds it (it may have lapsed, moved on). */
const RELEASE_LUA = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

export interface HeldLease {
  /** False once a renewal found the lease gone (it lapsed while this process stalled): stop after the current step. */
  held(): boolean;
  release(): Promise<void>;
}

export async function acquireLease(redis: Redis, key: string, ttlMs: number): Promise<HeldLease | undefined> {
  const token = randomBytes(9).toString('base64url');
  const taken = await redis.set(key, token, 'PX', ttlMs, 'NX');
  if (taken !== 'OK') return undefined;
  let held = true;
  const renewal = setInterval(
    () => {
      redis.eval(RENEW_LUA, 1, key, token, ttlMs).then(
        (renewed) => {
          if (Number(renewed) !== 1) held = false;
        },
        // Redis away: the lease may lapse; the next renewal tells.
        () => {},
      );
    },
    Math.max(50, Math.floor(ttlMs / 3)),
  );
  renewal.unref();
  return {
    held: () => held,
    async release() {
      clearInterval(renewal);
      held = false;
      await redis.eval(RELEASE_LUA, 1, key, token).catch(() => {});
    },
  };
}
