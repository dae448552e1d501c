/** A gate for fake servers: requests of one method or route wait at it until it is released. */

/** A gate that keeps every request for a method waiting until released, for racing two clicks. */
export interface Hold {
  /** How many requests are waiting at the gate now. */
  readonly waiting: number;
  /** Resolves once `n` requests wait at the gate. */
  waitUntilHeld(n?: number, timeoutMs?: number): Promise<void>;
  /** Lets every waiting and later request through. */
  release(): void;
}

export class HoldState implements Hold {
  released = false;
  private readonly waiters: (() => void)[] = [];
  private readonly watchers = new Set<() => void>();

  constructor(
    private readonly onRelease: () => void,
    private readonly server = 'fake server',
  ) {}

  get waiting(): number {
    return this.waiters.length;
  }

  enter(): Promise<void> {
    return new Promise((resolve) => {
      this.waiters.push(resolve);
      for (const watcher of [...this.watchers]) watcher();
    });
  }

  waitUntilHeld(n = 1, timeoutMs = 5000): Promise<void> {
    return new Promise((resolve, reject) => {
      const watcher = (): void => {
        if (this.waiters.length < n) return;
        this.watchers.delete(watcher);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.watchers.delete(watcher);
        reject(
          new Error(
            `${this.server}: ${this.waiters.length} of ${n} request(s) reached the hold within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      this.watchers.add(watcher);
      watcher();
    });
  }

  release(): void {
    this.released = true;
    this.onRelease();
    for (const resolve of this.waiters.splice(0)) resolve();
  }
}
