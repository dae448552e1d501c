/** The one interface every Revert adapter implements (Segment Public API today; other targets later). */
import type { StoredEvent } from '../events.ts';

export interface RevertTarget {
  /** Names the adapter in logs and metrics, e.g. `segment`. */
  name: string;
  /** Whether this target knows how to undo the event; no I/O, so the alert builder can ask it per button. */
  canRevert(event: StoredEvent): boolean;
  /** Undoes the event. Never throws for an expected failure: those come back as `{ ok: false }`. */
  revert(event: StoredEvent): Promise<RevertOutcome>;
}

export type RevertOutcome = RevertSuccess | RevertFailure;

export interface RevertSuccess {
  ok: true;
  /** The type to record the revert as (a reverted `Warehouses Disabled` is a `Warehouses Enabled`). */
  inverseType: string;
  /** One line for people, e.g. "Re-enabled warehouse wh_1". */
  summary: string;
  /** The `changes` of the recorded inverse event. */
  changes: { before: Record<string, unknown>; after: Record<string, unknown> };
}

export interface RevertFailure {
  ok: false;
  /** Readable and safe to show in Slack, e.g. "Segment says the warehouse wh_1 does not exist (404)". */
  reason: string;
  /** Whether the same click later might succeed (rate limit, outage) rather than fail the same way again. */
  retryable: boolean;
}
