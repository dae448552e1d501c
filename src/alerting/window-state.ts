/**
 * Threshold and throttle state for alert rules, kept in Redis.
 *
 * Why Redis: every worker process must see the same counts (a threshold of 5 must fire once even when
 * the 5 events land on 3 workers), and the counts must outlive a worker restart. Redis is already
 * required by BullMQ, runs each Lua script atomically (so concurrent workers cannot both fire), and
 * expires idle windows by TTL, so nothing here needs a cleanup job.
 *
 * Redis Cluster: a script touches only keys that share one hash slot (`{rule:group}` below, or the
 * `{audit}` tag of the prefix when the operator configured one).
 */
import type { Redis } from 'ioredis';

/**
 * How long the ids of events already counted toward a fired threshold are kept beyond the window, so
 * a job retried after a crash (BullMQ backoff, a restarted worker) is still recognised.
 */
export const RETRY_GRACE_MS = 60 * 60 * 1000;

/*
 * KEYS[1]: pending matches, a sorted set of event id by event time.
 * KEYS[2]: events already used by a firing: `counted:<id>` and `fired:<id>`, by event time.
 * ARGV: event id, event time (ms), window (ms), count, retry grace (ms).
 * The window ends at the newest pending event, so events that arrive out of order still count when
 * they fall within it. Returns 1 when this event completes a group of `count`, which then starts over.
 */
const THRESHOLD_LUA = `
local pending, done = KEYS[1], KEYS[2]
local id, at, within, count, grace = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
if redis.call('ZSCORE', done, 'fired:' .. id) then return 1 end
if redis.call('ZSCORE', done, 'counted:' .. id) then return 0 end
redis.call('ZADD', pending, at, id)
local newest = tonumber(redis.call('ZRANGE', pending, -1, -1, 'WITHSCORES')[2])
redis.call('ZREMRANGEBYSCORE', pending, '-inf', '(' .. string.format('%.0f', newest - within))
if redis.call('ZCARD', pending) < count then
  redis.call('PEXPIRE', pending, within)
  return 0
end
local members = redis.call('ZRANGE', pending, 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
  redis.call('ZADD', done, members[i + 1], 'counted:' .. members[i])
end
redis.call('ZADD', done, at, 'fired:' .. id)
redis.call('DEL', pending)
redis.call('ZREMRANGEBYSCORE', done, '-inf', '(' .. string.format('%.0f', newest - within - grace))
redis.call('PEXPIRE', done, within + grace)
return 1
`;

/*
 * KEYS[1]: the throttle of one (rule, group), holding the id of the event that last alerted.
 * ARGV: event id, window (ms). Returns 1 when this event may alert.
 */
const THROTTLE_LUA = `
local holder = redis.call('GET', KEYS[1])
if not holder then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then return 1 end
return 0
`;

interface WindowCommands {
  auditTrailThreshold(
    pending: string,
    done: string,
    id: string,
    at: number,
    within: number,
    count: number,
    grace: number,
  ): Promise<number>;
  auditTrailThrottle(key: string, id: string, within: number): Promise<number>;
}

const defined = new WeakSet<Redis>();

/** The scripts as commands of this connection: EVALSHA, with ioredis resending the body after a SCRIPT FLUSH. */
function commands(redis: Redis): WindowCommands {
  if (!defined.has(redis)) {
    redis.defineCommand('auditTrailThreshold', { numberOfKeys: 2, lua: THRESHOLD_LUA });
    redis.defineCommand('auditTrailThrottle', { numberOfKeys: 1, lua: THROTTLE_LUA });
    defined.add(redis);
  }
  // defineCommand adds the methods at run time; ioredis cannot type them.
  return redis as unknown as WindowCommands;
}

function requireWholeMs(name: string, value: number, min: number): void {
  if (!Number.isSafeInteger(value) || value < min)
    throw new RangeError(`${name} must be a whole number of at least ${min}, got ${value}`);
}

export function thresholdKeys(prefix: string, ruleId: string, key: string): { pending: string; done: string } {
  const slot = `${prefix}threshold:{${ruleId}:${key}}`;
  return { pending: `${slot}:pending`, done: `${slot}:done` };
}

export function throttleKey(prefix: string, ruleId: string, key: string): string {
  return `${prefix}throttle:${ruleId}:${key}`;
}

/**
 * Counts a matching event toward the rule's threshold for group `key`; true exactly when this event
 * makes `count` matches within `withinMs` (by event time, `atMs`), after which the group starts over.
 * Idempotent per event id: recording an event again returns the same answer and counts nothing twice.
 */
export async function recordThresholdMatch(
  redis: Redis,
  prefix: string,
  ruleId: string,
  key: string,
  eventId: string,
  atMs: number,
  withinMs: number,
  count: number,
): Promise<boolean> {
  requireWholeMs('atMs', Math.trunc(atMs), 0);
  requireWholeMs('withinMs', withinMs, 1);
  requireWholeMs('count', count, 1);
  const { pending, done } = thresholdKeys(prefix, ruleId, key);
  const fired = await commands(redis).auditTrailThreshold(
    pending,
    done,
    eventId,
    Math.trunc(atMs),
    withinMs,
    count,
    RETRY_GRACE_MS,
  );
  return fired === 1;
}

/**
 * True when this event may alert for group `key`: no other event alerted in the last `withinMs`.
 * The window is wall-clock time from the first alert. The event that holds the throttle is allowed
 * again, so a retried job is not suppressed by its own first attempt.
 */
export async function acquireThrottle(
  redis: Redis,
  prefix: string,
  ruleId: string,
  key: string,
  eventId: string,
  withinMs: number,
): Promise<boolean> {
  requireWholeMs('withinMs', withinMs, 1);
  const allowed = await commands(redis).auditTrailThrottle(throttleKey(prefix, ruleId, key), eventId, withinMs);
  return allowed === 1;
}
