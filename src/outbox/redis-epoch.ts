/**
 * Noticing that Redis lost the alert queue (restarted without persistence, flushed, failed over to an empty replica)
 * and putting back what it held from Postgres: a marker key in Redis holds the epoch Postgres recorded for this queue
 * prefix; a Redis without it (or with another) has lost jobs, so every outbox cursor moves back to its alert watermark
 * and the relay queues those events again, and every Revert all run still queued or running gets its job again. The
 * alert path is idempotent per (rule, event), and a run resumes where it stopped, so nothing posts or reverts twice.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import { REDIS_EPOCH_KEY } from '../queue/names.ts';
import { type Rewound, rewindOutboxToAlerted } from '../store/alert-progress.ts';
import type { Db, DbOrTx } from '../store/db.ts';
import { lockRedisEpoch, setRedisEpoch } from '../store/redis-epochs.ts';

export type EpochCheck =
  | { kind: 'intact'; requeuedRuns: number }
  /** No epoch was recorded for this prefix yet: a first start (or a new QUEUE_PREFIX), not a loss. */
  | { kind: 'first'; rewound: Rewound[]; requeuedRuns: number }
  | { kind: 'wiped'; rewound: Rewound[]; requeuedRuns: number }
  | { kind: 'unreachable'; error: unknown };

/**
 * Queues again the jobs of work Postgres knows is unfinished (Revert all runs), answering how many: `epoch` is the new
 * epoch after a loss, undefined when Redis is intact (only a job it lacks is added).
 */
export type Requeue = (tx: DbOrTx, epoch: string | undefined) => Promise<number>;

/**
 * Compares Redis's marker with the epoch in Postgres and, when they differ, rewinds the outbox, requeues, and writes a
 * new epoch to both. All under the epoch row's lock, so replicas checking at once recover once. The marker is written
 * after the requeued jobs and before the commit: a failure or crash in between leaves the two different, and the next
 * check recovers again, which only queues twice. `requeueIfIntact`: requeue even when nothing was lost (at start, for
 * a job lost between a commit and its add).
 */
export async function checkRedisEpoch(
  db: Db,
  redis: Redis,
  queuePrefix: string,
  requeue?: Requeue,
  requeueIfIntact = false,
): Promise<EpochCheck> {
  try {
    return await db.transaction(async (tx) => {
      const recorded = await lockRedisEpoch(tx, queuePrefix);
      const marker = await redis.get(`${queuePrefix}:${REDIS_EPOCH_KEY}`);
      if (recorded && marker === recorded) {
        const requeuedRuns = requeue && requeueIfIntact ? await requeue(tx, undefined) : 0;
        return { kind: 'intact', requeuedRuns } as const;
      }
      const rewound = await rewindOutboxToAlerted(tx);
      const epoch = randomUUID();
      const requeuedRuns = requeue ? await requeue(tx, epoch) : 0;
      await setRedisEpoch(tx, queuePrefix, epoch);
      await redis.set(`${queuePrefix}:${REDIS_EPOCH_KEY}`, epoch);
      return { kind: recorded ? 'wiped' : 'first', rewound, requeuedRuns } as const;
    });
  } catch (error) {
    return { kind: 'unreachable', error };
  }
}

export interface EpochWatchOptions {
  /** How often to look for the marker (a FLUSHALL drops no connection, so reconnects alone would miss it). */
  checkIntervalMs?: number;
  /** Called after Redis was found wiped and the outbox rewound: wake the relay, count it. */
  onWiped?: (rewound: Rewound[]) => void;
  /** Called after a first start rewound anything (a new QUEUE_PREFIX with work left over). */
  onRewound?: (rewound: Rewound[]) => void;
  /** Queues again the jobs of work kept in Postgres: after a loss, and once at start (at the first check answered). */
  requeue?: Requeue;
}

/** Checks the epoch at start, on every reconnect of `redis`, and on a timer; checks never overlap. */
export class RedisEpochWatch {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private requeuedAtStart = false;
  private readonly onReady = () => this.check();

  constructor(
    private readonly db: Db,
    private readonly redis: Redis,
    private readonly queuePrefix: string,
    private readonly logger: Logger,
    private readonly options: EpochWatchOptions = {},
  ) {}

  /** The first check, then the watch; resolves when the first check is done (Redis may be down: it is not awaited). */
  async start(): Promise<void> {
    this.redis.on('ready', this.onReady);
    this.timer = setInterval(() => this.check(), this.options.checkIntervalMs ?? 5000);
    this.timer.unref();
    this.check();
    await this.running;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.redis.off('ready', this.onReady);
    await this.running;
  }

  check(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.checkUntilIdle().finally(() => {
      this.running = undefined;
    });
  }

  private async checkUntilIdle(): Promise<void> {
    do {
      this.again = false;
      const { requeue } = this.options;
      const result = await checkRedisEpoch(this.db, this.redis, this.queuePrefix, requeue, !this.requeuedAtStart);
      if (result.kind !== 'unreachable') this.requeuedAtStart = true;
      this.report(result);
    } while (this.again && !this.stopped);
  }

  private report(result: EpochCheck): void {
    const events = (rewound: Rewound[]) => rewound.reduce((sum, r) => sum + r.toSeq - r.fromSeq + 1, 0);
    const { queuePrefix } = this;
    switch (result.kind) {
      case 'unreachable': // the relay and /readyz already say that Redis is away; the next check will tell
        return;
      case 'intact':
        if (result.requeuedRuns > 0) {
          this.logger.info(
            { queuePrefix, revertAllRuns: result.requeuedRuns },
            'unfinished Revert all runs found at start: each has its job (added again where Redis lacked it)',
          );
        }
        return;
      case 'first':
        if (result.rewound.length === 0 && result.requeuedRuns === 0) {
          this.logger.info({ queuePrefix }, 'Redis epoch marker written (first start with this Redis)');
          return;
        }
        this.logger.warn(
          {
            queuePrefix,
            events: events(result.rewound),
            workspaces: result.rewound,
            revertAllRuns: result.requeuedRuns,
          },
          'first start with this queue prefix: events not yet alerted and unfinished Revert all runs are queued again',
        );
        this.options.onRewound?.(result.rewound);
        return;
      case 'wiped':
        this.logger.warn(
          {
            queuePrefix,
            events: events(result.rewound),
            workspaces: result.rewound,
            revertAllRuns: result.requeuedRuns,
          },
          'Redis lost the queue (restarted empty, flushed or failed over): events not yet alerted and unfinished ' +
            'Revert all runs are queued again from Postgres; threshold/throttle windows, Slack pacing and waiting ' +
            '/audit exports are lost',
        );
        this.options.onWiped?.(result.rewound);
        return;
    }
  }
}
