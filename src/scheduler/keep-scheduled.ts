/**
 * Keeps the daily job schedulers registered: BullMQ keeps them in Redis only, so a Redis restarted empty (or flushed,
 * or failed over to an empty replica) would run no purge and no digest until the scheduler role restarted. Each
 * schedule is looked up on a timer and on every reconnect, and registered again when it is gone.
 */
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';

export interface KeptSchedule {
  /** For logs and the metric label: `retention`, `digest`. */
  name: string;
  queue: Queue;
  schedulerId: string;
  /** Upserts the job scheduler; throws while Redis is away. */
  register(): Promise<void>;
}

export interface ScheduleWatch {
  stop(): void;
}

export function keepScheduled(
  schedules: readonly KeptSchedule[],
  deps: {
    /** A connection whose `ready` event marks a reconnect (the queues' own). */
    redis: Redis;
    logger: Logger;
    /** Called when a schedule this process had seen was missing and has been registered again. */
    onRestored: (name: string) => void;
    intervalMs?: number;
  },
): ScheduleWatch {
  // A schedule counts as lost only once this process has seen it registered; before that, missing is a start-up
  // whose first registration failed (Redis was away), which the role's own retry reports.
  const seen = new Set<string>();
  let running = false;

  async function check(): Promise<void> {
    if (running) return;
    running = true;
    try {
      for (const schedule of schedules) {
        try {
          if (await schedule.queue.getJobScheduler(schedule.schedulerId)) {
            seen.add(schedule.name);
            continue;
          }
          await schedule.register();
          if (seen.has(schedule.name)) {
            deps.logger.warn(
              { schedule: schedule.name, schedulerId: schedule.schedulerId },
              `the daily ${schedule.name} schedule was gone from Redis (restarted empty, flushed or failed over); ` +
                'registered it again',
            );
            deps.onRestored(schedule.name);
          }
          seen.add(schedule.name);
        } catch {
          // Redis is away: /readyz and the relay say so; the next check tries again.
        }
      }
    } finally {
      running = false;
    }
  }

  const onReady = () => void check();
  deps.redis.on('ready', onReady);
  const timer = setInterval(() => void check(), deps.intervalMs ?? 10_000);
  timer.unref();
  void check();
  return {
    stop() {
      clearInterval(timer);
      deps.redis.off('ready', onReady);
    },
  };
}
