/**
 * The audit forwarder: sends each workspace's new events, in seq order, to its Segment source as batches of
 * `track` calls, woken by the commit NOTIFY (like the outbox relay) and by a sweep timer.
 *
 * Exactly-once, as far as Segment can see it: a batch is sent while this process holds the workspace's settings
 * row (FOR UPDATE SKIP LOCKED, so another replica skips the workspace rather than sending the same batch), and the
 * cursor moves in the transaction that saw Segment's answer. A crash before the answer rolls back and the batch is
 * sent again; the one window where Segment has the batch but the cursor did not commit (its 200 is in flight, or
 * the commit fails) is covered by Segment de-duplicating on messageId, derived from the workspace and event id.
 */
import type postgres from 'postgres';
import { withoutUndefined } from '../json.ts';
import type { Logger } from '../logger.ts';
import { exponentialDelay, withJitter } from '../retry.ts';
import { CommitSweeper } from '../store/commit-sweeper.ts';
import { readAboveCursor } from '../store/cursors.ts';
import type { Db, DbOrTx } from '../store/db.ts';
import {
  forwardingCursor,
  recordBatchDelivered,
  recordBatchRejected,
  recordBatchRetry,
  workspacesDueForForwarding,
} from '../store/forwarding.ts';
import { rowToEvent } from '../store/rows.ts';
import type { EventRow, ForwardingRow } from '../store/schema/index.ts';
import { MAX_CALL_BYTES, serialiseTrackCall } from './track-call.ts';
import { type BatchOutcome, TrackingClient } from './tracking-client.ts';

export interface ForwarderOptions {
  /** `SEGMENT_TRACKING_URL`. */
  trackingUrl: string;
  /** Sweep even without a notification (events committed while the listener reconnected, backoffs that ended). */
  sweepIntervalMs?: number;
  /** First retry delay after a failed send; doubles per failure in a row, with jitter, up to maxBackoffMs. */
  backoffBaseMs?: number;
  maxBackoffMs?: number;
  /** How long one POST may take. */
  timeoutMs?: number;
  /** On stop, how long a batch in flight may take to finish before it is abandoned (and sent again later). */
  stopGraceMs?: number;
  /** Segment takes 500 KB per batch; the default leaves room for what its proxies add. */
  maxBatchBytes?: number;
  maxBatchEvents?: number;
  maxCallBytes?: number;
  /** Workspaces sent to at once by this process (each holds a connection while its batch is in flight). */
  concurrency?: number;
  onBatch?: (outcome: 'delivered' | 'failed' | 'retried', events: number) => void;
}

const DEFAULTS = {
  sweepIntervalMs: 1000,
  backoffBaseMs: 1000,
  maxBackoffMs: 5 * 60_000,
  timeoutMs: 15_000,
  stopGraceMs: 5000,
  maxBatchBytes: 450 * 1024,
  maxBatchEvents: 500,
  maxCallBytes: MAX_CALL_BYTES,
  concurrency: 4,
};

/** A Retry-After longer than this is taken as a mistake rather than a reason to stop for hours. */
const MAX_RETRY_AFTER_MS = 60 * 60_000;

type BatchResult = { next: 'more' | 'idle'; events: number };

class Stopping extends Error {
  constructor() {
    super('forwarder stopping');
  }
}

export class AuditForwarder {
  private readonly options: Required<Omit<ForwarderOptions, 'onBatch'>> & Pick<ForwarderOptions, 'onBatch'>;
  private readonly client: TrackingClient;
  private readonly abort = new AbortController();
  private readonly sweeper: CommitSweeper;

  constructor(
    private readonly db: Db,
    sqlClient: postgres.Sql,
    private readonly logger: Logger,
    options: ForwarderOptions,
  ) {
    this.options = { ...DEFAULTS, ...withoutUndefined(options) };
    this.client = new TrackingClient({ trackingUrl: this.options.trackingUrl, timeoutMs: this.options.timeoutMs });
    this.sweeper = new CommitSweeper(sqlClient, () => this.sweep(), logger, {
      sweepIntervalMs: this.options.sweepIntervalMs,
      name: 'audit forwarder',
      failure: 'read or record delivery state',
    });
  }

  start(): Promise<void> {
    return this.sweeper.start();
  }

  wake(): void {
    this.sweeper.wake();
  }

  /** Resolves once every workspace that can be sent to has been (for tests and benchmarks). */
  drain(): Promise<void> {
    return this.sweeper.drain();
  }

  /** Stops sweeping; a batch in flight gets stopGraceMs to be answered, then is abandoned and rolled back. */
  async stop(): Promise<void> {
    const running = await this.sweeper.halt();
    if (!running) return;
    let grace: NodeJS.Timeout | undefined;
    await Promise.race([running, new Promise((resolve) => (grace = setTimeout(resolve, this.options.stopGraceMs)))]);
    clearTimeout(grace);
    this.abort.abort();
    await running;
  }

  /** Sends every workspace with forwarding on, events beyond its cursor, and no backoff in force. */
  async sweep(): Promise<number> {
    const due = await workspacesDueForForwarding(this.db);
    let sent = 0;
    await eachLimited(due, this.options.concurrency, async (workspaceId) => {
      while (!this.sweeper.stopped) {
        const result = await this.forwardBatch(workspaceId);
        sent += result.events;
        if (result.next === 'idle') break;
      }
    });
    return sent;
  }

  /** One batch for one workspace, sent and recorded in the transaction that holds its settings row. */
  private async forwardBatch(workspaceId: string): Promise<BatchResult> {
    const log = this.logger.child({ workspaceId });
    const read = {
      columns: 'row',
      limit: this.options.maxBatchEvents,
      onPurged: (gap: { fromSeq: number; toSeq: number }) =>
        log.warn(gap, 'events purged by retention before they were forwarded'),
    } as const;
    try {
      // Undefined: turned off, another replica is sending to it right now, a backoff started since the sweep
      // read it, or nothing is left to send.
      const result = await readAboveCursor(this.db, forwardingCursor, workspaceId, read, (tx, { state, rows }) =>
        this.sendBatch(tx, workspaceId, state, rows, log),
      );
      return result ?? { next: 'idle', events: 0 };
    } catch (error) {
      if (error instanceof Stopping) return { next: 'idle', events: 0 };
      throw error;
    }
  }

  /** Sends one batch and records Segment's answer in `tx`, the transaction that holds the settings row. */
  private async sendBatch(
    tx: DbOrTx,
    workspaceId: string,
    settings: ForwardingRow,
    rows: EventRow[],
    log: Logger,
  ): Promise<BatchResult> {
    const batch = this.buildBatch(rows);
    const outcome = await this.client.postBatch(settings.writeKey, batch.body, this.abort.signal);
    if (outcome.kind === 'aborted') throw new Stopping();
    const range = { fromSeq: rows[0]!.seq, toSeq: batch.lastSeq, events: batch.count };
    const more = batch.count < rows.length || rows.length === this.options.maxBatchEvents;
    const next = more ? 'more' : 'idle';

    if (outcome.kind === 'delivered') {
      await recordBatchDelivered(tx, workspaceId, range);
      this.options.onBatch?.('delivered', batch.count);
      if (settings.retryAttempts > 0) {
        log.info({ ...range, attempts: settings.retryAttempts }, 'audit forwarding delivered again after failures');
      }
      if (batch.trimmed > 0) {
        log.info({ ...range, trimmed: batch.trimmed }, 'forwarded events with fields trimmed to fit 32 KB');
      }
      return { next, events: batch.count };
    }

    if (outcome.kind === 'rejected') {
      await recordBatchRejected(tx, workspaceId, range, outcome);
      this.options.onBatch?.('failed', batch.count);
      const refusal = { status: outcome.status, reason: outcome.reason };
      log.warn({ ...range, ...refusal }, 'Segment refused a batch of audit events; recorded as failed');
      return { next, events: batch.count };
    }

    const attempts = settings.retryAttempts + 1;
    const delayMs = this.retryDelay(outcome, attempts);
    await recordBatchRetry(tx, workspaceId, { attempts, delayMs, reason: outcome.reason });
    this.options.onBatch?.('retried', batch.count);
    if (attempts === 1 || attempts % 10 === 0) {
      const failure = { status: outcome.status, reason: outcome.reason, attempts, retryInMs: delayMs };
      log.warn({ ...range, ...failure }, 'audit forwarding failed; will retry');
    }
    setTimeout(() => this.wake(), delayMs + 10).unref();
    return { next: 'idle', events: 0 };
  }

  /** As many of `rows` (in seq order) as fit one batch; always at least one, since each call fits alone. */
  private buildBatch(rows: EventRow[]): { body: string; count: number; lastSeq: number; trimmed: number } {
    const sentAt = new Date().toISOString();
    const envelope = Buffer.byteLength(`{"batch":[],"sentAt":"${sentAt}"}`);
    const calls: string[] = [];
    let bytes = envelope;
    let trimmed = 0;
    let lastSeq = rows[0]!.seq;
    for (const row of rows) {
      const call = serialiseTrackCall(rowToEvent(row), this.options.maxCallBytes);
      const separator = calls.length > 0 ? 1 : 0;
      if (calls.length > 0 && bytes + separator + call.bytes > this.options.maxBatchBytes) break;
      calls.push(call.json);
      bytes += separator + call.bytes;
      lastSeq = row.seq;
      if (call.trimmed.length > 0) trimmed += 1;
    }
    return { body: `{"batch":[${calls.join(',')}],"sentAt":"${sentAt}"}`, count: calls.length, lastSeq, trimmed };
  }

  /** Retry-After when Segment sent one, else exponential backoff with jitter (half fixed, half random). */
  private retryDelay(outcome: Extract<BatchOutcome, { kind: 'retry' }>, attempts: number): number {
    if (outcome.retryAfterMs !== undefined) return Math.min(Math.max(outcome.retryAfterMs, 0), MAX_RETRY_AFTER_MS);
    return withJitter(exponentialDelay(attempts, this.options.backoffBaseMs, this.options.maxBackoffMs));
  }
}

async function eachLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
}
