/**
 * Runs a sweep over committed events: when a commit NOTIFYs the outbox channel, on a timer (for
 * commits made while the listener was reconnecting), and after a failure with capped backoff. Sweeps
 * never overlap; a wake-up during one runs another right after. The outbox relay and the audit
 * forwarder both tail the store this way.
 */
import type postgres from 'postgres';
import type { Logger } from '../logger.ts';
import { exponentialDelay } from '../retry.ts';
import { OUTBOX_CHANNEL } from './append.ts';

export interface CommitSweeperOptions {
  sweepIntervalMs: number;
  /** Names the sweeper in its log lines, e.g. "outbox relay". */
  name: string;
  /** What a failed sweep could not do, for the warning: "enqueue", "read or record delivery state". */
  failure: string;
}

export class CommitSweeper {
  private timer: NodeJS.Timeout | undefined;
  private listener: postgres.ListenMeta | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private failures = 0;
  private retryAt = 0;
  stopped = false;

  constructor(
    private readonly sqlClient: postgres.Sql,
    private readonly sweep: () => Promise<unknown>,
    private readonly logger: Logger,
    private readonly options: CommitSweeperOptions,
  ) {}

  async start(): Promise<void> {
    this.listener = await this.sqlClient.listen(
      OUTBOX_CHANNEL,
      () => this.wake(),
      () => this.wake(),
    );
    this.timer = setInterval(() => this.wake(), this.options.sweepIntervalMs);
    this.wake();
  }

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

  /** Resolves once a sweep that started after the call has finished (for tests, benchmarks and shutdown). */
  async drain(): Promise<void> {
    while (this.running) await this.running;
    await this.sweep();
  }

  /** Stops waking; resolves with the sweep in progress, if any, for the caller to wait on or cut short. */
  async halt(): Promise<Promise<void> | undefined> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.listener?.unlisten().catch(() => {});
    return this.running;
  }

  private async sweepUntilIdle(): Promise<void> {
    do {
      this.again = false;
      try {
        await this.sweep();
        if (this.failures > 0) this.logger.info({ failures: this.failures }, `${this.options.name} recovered`);
        this.failures = 0;
      } catch (error) {
        if (this.stopped) return;
        this.failures += 1;
        // Back off (capped) while Redis or Postgres is away; the events wait safely in Postgres.
        const delay = exponentialDelay(this.failures, 250, 5000);
        this.retryAt = Date.now() + delay;
        if (this.failures === 1 || this.failures % 20 === 0) {
          this.logger.warn(
            { err: error, failures: this.failures },
            `${this.options.name} could not ${this.options.failure}; will retry`,
          );
        }
        setTimeout(() => this.wake(), delay).unref();
        return;
      }
    } while (this.again && !this.stopped);
  }
}
