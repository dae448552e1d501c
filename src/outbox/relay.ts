/** The outbox relay: moves committed events from Postgres onto the audit-events queue, in seq order. */
import { and, asc, eq, gt, sql } from 'drizzle-orm';
import type { Queue } from 'bullmq';
import type postgres from 'postgres';
import type { Logger } from '../logger.ts';
import { AUDIT_EVENT_JOB, auditEventJobId, type AuditEventJob } from '../queue/names.ts';
import { OUTBOX_CHANNEL } from '../store/append.ts';
import type { Db } from '../store/db.ts';
import { chainHeads, events, outboxCursors } from '../store/schema/index.ts';

export interface RelayOptions {
  /** Sweep even without a notification, for events committed while the listener was reconnecting. */
  sweepIntervalMs?: number;
  batchSize?: number;
  onRelayed?: (count: number) => void;
}

export class OutboxRelay {
  private timer: NodeJS.Timeout | undefined;
  private listener: postgres.ListenMeta | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private failures = 0;
  private retryAt = 0;

  constructor(
    private readonly db: Db,
    private readonly sqlClient: postgres.Sql,
    private readonly queue: Queue<AuditEventJob>,
    private readonly logger: Logger,
    private readonly options: RelayOptions = {},
  ) {}

  async start(): Promise<void> {
    this.listener = await this.sqlClient.listen(OUTBOX_CHANNEL, () => this.wake(), () => this.wake());
    this.timer = setInterval(() => this.wake(), this.options.sweepIntervalMs ?? 1000);
    this.wake();
  }

  /** Asks for a sweep; sweeps never overlap, and a request during one runs another right after. */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (Date.now() < this.retryAt) return;
    this.running = this.sweepUntilIdle().finally(() => {
      this.running = undefined;
    });
  }

  /** Resolves once everything committed before the call has been relayed (for tests and shutdown). */
  async drain(): Promise<void> {
    while (this.running) await this.running;
    await this.sweep();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.listener?.unlisten().catch(() => {});
    await this.running;
  }

  private async sweepUntilIdle(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.sweep();
        if (this.failures > 0) this.logger.info({ failures: this.failures }, 'outbox relay recovered');
        this.failures = 0;
      } catch (error) {
        this.failures += 1;
        // Back off (capped) while Redis or Postgres is away; the events wait safely in Postgres.
        const delay = Math.min(250 * 2 ** (this.failures - 1), 5000);
        this.retryAt = Date.now() + delay;
        if (this.failures === 1 || this.failures % 20 === 0) {
          this.logger.warn({ err: error, failures: this.failures }, 'outbox relay could not enqueue; will retry');
        }
        setTimeout(() => this.wake(), delay).unref();
        return;
      }
    } while (this.again && !this.stopped);
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
