/**
 * The outbox relay: moves committed events from Postgres onto the alert queue as one job per committed seq range of a
 * workspace, in seq order.
 */
import type { Queue } from 'bullmq';
import type postgres from 'postgres';
import type { Logger } from '../logger.ts';
import { ALERT_RANGE_JOB, type AlertRangeJob, alertRangeJobId } from '../queue/names.ts';
import { CommitSweeper } from '../store/commit-sweeper.ts';
import { advanceOutboxCursor, lockOutboxRange, prepareOutbox, workspacesBehindOutbox } from '../store/cursors.ts';
import type { Db } from '../store/db.ts';

export interface RelayOptions {
  /** Sweep even without a notification, for events committed while the listener was reconnecting. */
  sweepIntervalMs?: number;
  /** At most this many events per job, so one job's work (and its retry) stays bounded. */
  maxRangeEvents?: number;
  onRelayed?: (count: number) => void;
}

export class OutboxRelay {
  private readonly sweeper: CommitSweeper;

  constructor(
    private readonly db: Db,
    sqlClient: postgres.Sql,
    private readonly queue: Queue<AlertRangeJob>,
    logger: Logger,
    private readonly options: RelayOptions = {},
  ) {
    this.sweeper = new CommitSweeper(sqlClient, () => this.sweep(), logger, {
      sweepIntervalMs: options.sweepIntervalMs ?? 1000,
      name: 'outbox relay',
      failure: 'enqueue',
    });
  }

  start(): Promise<void> {
    return this.sweeper.start();
  }

  /** Sweeps now (or right after the sweep in progress): after the cursors were moved back, say. */
  wake(): void {
    this.sweeper.wake();
  }

  /** Resolves once everything committed before the call has been relayed (for tests and shutdown). */
  drain(): Promise<void> {
    return this.sweeper.drain();
  }

  async stop(): Promise<void> {
    await await this.sweeper.halt();
  }

  /** Relays every workspace with committed events beyond its cursor. */
  async sweep(): Promise<number> {
    let total = 0;
    for (const { workspaceId, prepared } of await workspacesBehindOutbox(this.db)) {
      if (!prepared) await prepareOutbox(this.db, workspaceId);
      for (;;) {
        const moved = await this.relayRange(workspaceId);
        total += moved;
        if (moved === 0) break;
      }
    }
    return total;
  }

  /**
   * One range for one workspace: whatever committed above the cursor since the last sweep, usually one group commit's
   * worth, as one job. The cursor row stays locked until Redis has accepted the job; a crash in between offers the same
   * range again (or, once more has committed, a longer one: its events are alerted once all the same, see
   * alerting/worker.ts).
   */
  private async relayRange(workspaceId: string): Promise<number> {
    const moved = await this.db.transaction(async (tx) => {
      const range = await lockOutboxRange(tx, workspaceId, this.options.maxRangeEvents ?? 1000);
      if (!range) return 0;
      await this.queue.add(ALERT_RANGE_JOB, range, { jobId: alertRangeJobId(range) });
      await advanceOutboxCursor(tx, workspaceId, range.toSeq);
      return range.toSeq - range.fromSeq + 1;
    });
    if (moved) this.options.onRelayed?.(moved);
    return moved;
  }
}
