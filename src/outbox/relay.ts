/** The outbox relay: moves committed events from Postgres onto the audit-events queue, in seq order. */
import type { Queue } from 'bullmq';
import type postgres from 'postgres';
import type { Logger } from '../logger.ts';
import { AUDIT_EVENT_JOB, type AuditEventJob, auditEventJobId } from '../queue/names.ts';
import { CommitSweeper } from '../store/commit-sweeper.ts';
import { advanceOutboxCursor, outboxCursor, readAboveCursor, workspacesBehindOutbox } from '../store/cursors.ts';
import type { Db } from '../store/db.ts';

export interface RelayOptions {
  /** Sweep even without a notification, for events committed while the listener was reconnecting. */
  sweepIntervalMs?: number;
  batchSize?: number;
  onRelayed?: (count: number) => void;
}

export class OutboxRelay {
  private readonly sweeper: CommitSweeper;

  constructor(
    private readonly db: Db,
    sqlClient: postgres.Sql,
    private readonly queue: Queue<AuditEventJob>,
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

  /** Resolves once everything committed before the call has been relayed (for tests and shutdown). */
  drain(): Promise<void> {
    return this.sweeper.drain();
  }

  async stop(): Promise<void> {
    await (await this.sweeper.halt());
  }

  /** Relays every workspace with committed events beyond its cursor. */
  async sweep(): Promise<number> {
    let total = 0;
    for (const workspaceId of await workspacesBehindOutbox(this.db)) {
      for (;;) {
        const moved = await this.relayBatch(workspaceId);
        total += moved;
        if (moved < (this.options.batchSize ?? 1000)) break;
      }
    }
    return total;
  }

  /**
   * One batch for one workspace. The cursor row is locked (SKIP LOCKED: another relay replica owns it
   * right now) and advanced only after Redis accepted the jobs; a crash in between re-adds jobs whose
   * ids already exist, which BullMQ ignores.
   */
  private async relayBatch(workspaceId: string): Promise<number> {
    const read = { columns: 'reference', limit: this.options.batchSize ?? 1000 } as const;
    const moved = await readAboveCursor(this.db, outboxCursor, workspaceId, read, async (tx, { rows }) => {
      await this.queue.addBulk(
        rows.map(({ id, seq }) => ({
          name: AUDIT_EVENT_JOB,
          data: { workspaceId, eventId: id, seq },
          opts: { jobId: auditEventJobId(workspaceId, id) },
        })),
      );
      await advanceOutboxCursor(tx, workspaceId, rows.at(-1)!.seq);
      return rows.length;
    });
    if (moved) this.options.onRelayed?.(moved);
    return moved ?? 0;
  }
}
