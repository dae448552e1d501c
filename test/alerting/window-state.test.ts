import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { acquireThrottle, recordThresholdMatch, thresholdKeys } from '../../src/alerting/window-state.ts';

const REDIS_URL = process.env.TEST_REDIS_URL ?? (inject('redisUrl') as string | undefined) ?? 'redis://127.0.0.1:6379';
const prefix = `test:rules:${randomUUID()}:`;

let redis: Redis;

beforeAll(() => {
  redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
});

afterAll(async () => {
  // SCAN rather than KEYS or FLUSHDB: the Redis may be shared with other test files.
  for await (const keys of redis.scanStream({ match: `${prefix}*`, count: 500 }) as AsyncIterable<string[]>) {
    if (keys.length > 0) await redis.del(...keys);
  }
  await redis.quit();
});

const T0 = Date.parse('2026-11-25T10:00:00.000Z');
const MINUTE = 60_000;

/** Records events `first..last` (ids `evt_<n>`) one after another, a second apart; returns which fired. */
async function recordSeries(
  ruleId: string,
  first: number,
  last: number,
  count: number,
  key = 'ws_1:usr_1',
): Promise<number[]> {
  const fired: number[] = [];
  for (let n = first; n <= last; n += 1) {
    if (await recordThresholdMatch(redis, prefix, ruleId, key, `evt_${n}`, T0 + n * 1000, 10 * MINUTE, count))
      fired.push(n);
  }
  return fired;
}

describe('recordThresholdMatch', () => {
  it('fires exactly once when the count is reached, then needs a fresh count to fire again', async () => {
    const ruleId = 'fires-once';

    expect(await recordSeries(ruleId, 1, 12, 5)).toEqual([5, 10]);
  });

  it('counts a retried event once', async () => {
    const ruleId = 'idempotent';

    for (let attempt = 0; attempt < 5; attempt += 1) {
      expect(await recordThresholdMatch(redis, prefix, ruleId, 'k', 'evt_1', T0, 10 * MINUTE, 3)).toBe(false);
    }
    expect(await recordThresholdMatch(redis, prefix, ruleId, 'k', 'evt_2', T0 + 1000, 10 * MINUTE, 3)).toBe(false);
    expect(await recordThresholdMatch(redis, prefix, ruleId, 'k', 'evt_3', T0 + 2000, 10 * MINUTE, 3)).toBe(true);
  });

  it('gives a retried event the answer it got first, and never recounts events of a fired group', async () => {
    const ruleId = 'retry-after-firing';
    expect(await recordSeries(ruleId, 1, 3, 3)).toEqual([3]);

    expect(await recordSeries(ruleId, 1, 3, 3)).toEqual([3]);
    expect(await recordSeries(ruleId, 1, 2, 3)).toEqual([]);
    expect(await recordSeries(ruleId, 4, 6, 3)).toEqual([6]);
  });

  it('only counts matches that fall within the window of the newest one', async () => {
    const ruleId = 'window';
    const record = (id: string, at: number) => recordThresholdMatch(redis, prefix, ruleId, 'k', id, T0 + at, 1000, 3);

    expect(await record('a', 0)).toBe(false);
    expect(await record('b', 600)).toBe(false);
    expect(await record('c', 1200)).toBe(false); // a is more than a second older than c
    expect(await record('late', 100)).toBe(false); // arrives late and is already outside the window
    expect(await record('d', 1300)).toBe(true); // b, c, d
  });

  it('counts an event that arrives out of order when it falls within the window', async () => {
    const ruleId = 'out-of-order';
    const record = (id: string, at: number) => recordThresholdMatch(redis, prefix, ruleId, 'k', id, T0 + at, 1000, 3);

    expect(await record('c', 900)).toBe(false);
    expect(await record('a', 100)).toBe(false);
    expect(await record('b', 500)).toBe(true);
  });

  it('keeps groups apart', async () => {
    const ruleId = 'groups';

    expect(await recordSeries(ruleId, 1, 2, 3, 'ws_1:usr_1')).toEqual([]);
    expect(await recordSeries(ruleId, 3, 4, 3, 'ws_1:usr_2')).toEqual([]);
    expect(await recordSeries(ruleId, 5, 5, 3, 'ws_1:usr_1')).toEqual([5]);
  });

  it('lets pending matches expire with the window', async () => {
    const ruleId = 'ttl';
    await recordThresholdMatch(redis, prefix, ruleId, 'k', 'evt_1', T0, 10 * MINUTE, 3);

    const ttl = await redis.pttl(thresholdKeys(prefix, ruleId, 'k').pending);

    expect(ttl).toBeGreaterThan(9 * MINUTE);
    expect(ttl).toBeLessThanOrEqual(10 * MINUTE);
  });

  it('fires once when many workers record the matches of one group at the same time', async () => {
    const ruleId = 'concurrent';
    const workers = Array.from({ length: 4 }, () => new Redis(REDIS_URL, { maxRetriesPerRequest: 1 }));
    try {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, n) =>
          recordThresholdMatch(workers[n % workers.length]!, prefix, ruleId, 'k', `evt_${n}`, T0 + n, 10 * MINUTE, 10),
        ),
      );

      expect(results.filter(Boolean)).toHaveLength(1);
    } finally {
      await Promise.all(workers.map((worker) => worker.quit()));
    }
  });

  it('fires once per full group when concurrent workers record many matches, including retries', async () => {
    const ruleId = 'concurrent-many';
    const workers = Array.from({ length: 4 }, () => new Redis(REDIS_URL, { maxRetriesPerRequest: 1 }));
    try {
      const ids = Array.from({ length: 25 }, (_, n) => `evt_${n}`);
      const results = await Promise.all(
        ids.map((id, n) =>
          recordThresholdMatch(workers[n % workers.length]!, prefix, ruleId, 'k', id, T0 + n, 10 * MINUTE, 5),
        ),
      );
      const retries = await Promise.all(
        ids.map((id, n) =>
          recordThresholdMatch(workers[(n + 1) % workers.length]!, prefix, ruleId, 'k', id, T0 + n, 10 * MINUTE, 5),
        ),
      );

      expect(results.filter(Boolean)).toHaveLength(5);
      expect(retries).toEqual(results);
    } finally {
      await Promise.all(workers.map((worker) => worker.quit()));
    }
  });

  it('refuses a window or count that is not a positive whole number', async () => {
    await expect(recordThresholdMatch(redis, prefix, 'bad', 'k', 'e', T0, 0, 5)).rejects.toThrow(RangeError);
    await expect(recordThresholdMatch(redis, prefix, 'bad', 'k', 'e', Number.NaN, 1000, 5)).rejects.toThrow(RangeError);
  });
});

describe('acquireThrottle', () => {
  it('lets the first event alert and suppresses others of the group until the window passes', async () => {
    const ruleId = 'throttle';

    expect(await acquireThrottle(redis, prefix, ruleId, 'ws_1:wh_1', 'evt_1', 300)).toBe(true);
    expect(await acquireThrottle(redis, prefix, ruleId, 'ws_1:wh_1', 'evt_2', 300)).toBe(false);
    expect(await acquireThrottle(redis, prefix, ruleId, 'ws_1:wh_2', 'evt_3', 300)).toBe(true);

    await sleep(400);

    expect(await acquireThrottle(redis, prefix, ruleId, 'ws_1:wh_1', 'evt_4', 300)).toBe(true);
    expect(await acquireThrottle(redis, prefix, ruleId, 'ws_1:wh_1', 'evt_5', 300)).toBe(false);
  });

  it('does not suppress a retried job of the event that holds the throttle', async () => {
    const ruleId = 'throttle-retry';

    expect(await acquireThrottle(redis, prefix, ruleId, 'k', 'evt_1', 300)).toBe(true);
    expect(await acquireThrottle(redis, prefix, ruleId, 'k', 'evt_1', 300)).toBe(true);
    expect(await acquireThrottle(redis, prefix, ruleId, 'k', 'evt_2', 300)).toBe(false);
  });

  it('lets exactly one of many concurrent events alert', async () => {
    const ruleId = 'throttle-concurrent';
    const workers = Array.from({ length: 4 }, () => new Redis(REDIS_URL, { maxRetriesPerRequest: 1 }));
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, n) =>
          acquireThrottle(workers[n % workers.length]!, prefix, ruleId, 'k', `evt_${n}`, 10_000),
        ),
      );

      expect(results.filter(Boolean)).toHaveLength(1);
    } finally {
      await Promise.all(workers.map((worker) => worker.quit()));
    }
  });
});
