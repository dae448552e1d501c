/** The outbox relay: moves committed events from Postgres onto the audit-events queue, in seq order. */
import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { Queue } from 'bullmq';
import type postgres from 'postgres';
import type { Logger } from '../logger.ts';
import { AUDIT_EVENT_JOB, auditEventJobId, type AuditEventJob } from '../queue/names.ts';
import { CommitSweeper } from '../store/commit-sweeper.ts';
import type { Db } from '../store/db.ts';
import { chainHeads, events, outboxCursors } from '../store/schema/index.ts';

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
    const pending = await this.db
      .select({ workspaceId: chainHeads.workspaceId })
      .from(chainHeads)
      .leftJoin(outboxCursors, eq(outboxCursors.workspaceId, chainHeads.workspaceId))
      .where(sql`${chainHeads.seq} > coalesce(${outboxCursors.relayedSeq}, 0)`);
    let total = 0;
    for (const { workspaceId } of pending) {
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
    const batchSize = this.options.batchSize ?? 1000;
    await this.db.insert(outboxCursors).values({ workspaceId, relayedSeq: 0 }).onConflictDoNothing();
    const moved = await this.db.transaction(async (tx) => {
      const [cursor] = await tx
        .select({ relayedSeq: outboxCursors.relayedSeq })
        .from(outboxCursors)
        .where(eq(outboxCursors.workspaceId, workspaceId))
        .for('update', { skipLocked: true });
      if (!cursor) return 0;
      const [head] = await tx.select({ seq: chainHeads.seq }).from(chainHeads).where(eq(chainHeads.workspaceId, workspaceId));
      const batch = await tx
        .select({ id: events.id, seq: events.seq })
        .from(events)
        .where(and(eq(events.workspaceId, workspaceId), gt(events.seq, cursor.relayedSeq)))
        .orderBy(asc(events.seq))
        .limit(batchSize);
      if (batch.length === 0) {
        // Nothing left above the cursor although the head is ahead: retention purged those rows.
        // Read before the events, so every seq up to it was already committed when they were read.
        if (head && head.seq > cursor.relayedSeq) {
          await tx.update(outboxCursors).set({ relayedSeq: head.seq }).where(eq(outboxCursors.workspaceId, workspaceId));
        }
        return 0;
      }
      await this.queue.addBulk(
        batch.map(({ id, seq }) => ({
          name: AUDIT_EVENT_JOB,
          data: { workspaceId, eventId: id, seq },
          opts: { jobId: auditEventJobId(workspaceId, id) },
        })),
      );
      await tx
        .update(outboxCursors)
        .set({ relayedSeq: batch.at(-1)!.seq, updatedAt: new Date() })
        .where(eq(outboxCursors.workspaceId, workspaceId));
      return batch.length;
    });
    if (moved > 0) this.options.onRelayed?.(moved);
    return moved;
  }
}

/** Events committed but not yet on the queue, across workspaces (a metric and a readiness hint). */
export async function outboxLag(db: Db): Promise<number> {
  const [row] = await db
    .select({ lag: sql<string>`coalesce(sum(${chainHeads.seq} - coalesce(${outboxCursors.relayedSeq}, 0)), 0)` })
    .from(chainHeads)
    .leftJoin(outboxCursors, eq(outboxCursors.workspaceId, chainHeads.workspaceId));
  return Number(row?.lag ?? 0);
}
