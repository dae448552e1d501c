/**
 * Revert all (SPEC section 5): every event of a grouped alert reverted exactly once, each through the same workflow
 * as its own Revert button (revert/workflow.ts: the claim row, the call to Segment, the inverse audit event), as a
 * queued job rather than in the click handler.
 *
 * The click claims a run in Postgres (store/alert-groups.ts claimRevertRun): one run per group at a time, covering the
 * events the confirm named, committed before the job is queued. The job walks the run's events in the order they
 * joined, a few at a time, recording per event what became of it; the grouped message shows the progress ("Reverting
 * 23 of 60…") through the dispatcher's updater, which coalesces the steps into chat.update's pace. A job that dies is
 * retried by BullMQ and picks up where it stopped: finished events are skipped, and an event its dead attempt had
 * started is taken over (workflow.ts `resume`), so nothing is recorded as reverted twice. That takeover is safe only if
 * the attempt that started the event is dead, so an attempt leases the run in Postgres (renewed while it runs) and a
 * second copy of the job waits for the lease to lapse: one queued again after Redis was wiped (requeueRevertRuns, from
 * the relay's epoch check) while the first still runs, or one BullMQ's stalled-job check handed on.
 */
import { randomUUID } from 'node:crypto';
import { DelayedError, type Queue, UnrecoverableError, Worker, type WorkerOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { logWorkerErrors } from '../queue/connection.ts';
import {
  REVERT_ALL_JOB,
  REVERT_ALL_QUEUE,
  type RevertAllJob,
  revertAllJobId,
  revertAllJobSchema,
} from '../queue/names.ts';
import {
  beginRevertRun,
  claimRevertRun,
  finishRevertRun,
  type MemberOutcome,
  type RevertScope,
  recordRevertOutcome,
  renewRevertRunLease,
  revertRunTargets,
  unfinishedRevertRuns,
} from '../store/alert-groups.ts';
import type { Db, DbOrTx } from '../store/db.ts';
import type { RevertTarget } from './types.ts';
import { type RevertResult, revertEvent } from './workflow.ts';

/** Events reverted side by side: enough to keep Segment busy, few enough to stay clear of its rate limit's edge. */
export const REVERT_ALL_CONCURRENCY = 4;

/**
 * How long an attempt's hold on its run lasts unless renewed (every third of it): a worker that died mid-run delays
 * the run this long before another attempt resumes it.
 */
export const REVERT_ALL_LEASE_MS = 30_000;

export interface RevertAllRequest {
  workspaceId: string;
  groupId: number;
  /** The Slack user who clicked: the actor of every recorded revert. */
  userId: string;
  scope: RevertScope;
  /** `all`: the events that had joined when the message was drawn (the count its confirm named). */
  upTo: number;
}

export type RevertAllStart =
  | { status: 'started'; run: number; total: number }
  | { status: 'busy'; by: string | null }
  | { status: 'not_found' };

/** The click: claims a run (or finds the one under way) and queues its job. */
export async function requestRevertAll(
  db: Db,
  queue: Queue<RevertAllJob>,
  request: RevertAllRequest,
): Promise<RevertAllStart> {
  const claim = await db.transaction((tx) => claimRevertRun(tx, request));
  if (claim.claimed) {
    const job = { workspaceId: request.workspaceId, groupId: request.groupId, run: claim.run };
    await queue.add(REVERT_ALL_JOB, job, { jobId: revertAllJobId(job) });
    return { status: 'started', run: claim.run, total: claim.total };
  }
  const { group } = claim;
  if (!group || group.workspaceId !== request.workspaceId) return { status: 'not_found' };
  // A run is queued or under way. Its job is added again in case it was lost (Redis wiped between the claim and the
  // add): BullMQ ignores the add of a job id it holds, so a run never gets two jobs.
  const job = { workspaceId: group.workspaceId, groupId: group.id, run: group.revertRun };
  await queue.add(REVERT_ALL_JOB, job, { jobId: revertAllJobId(job) });
  return { status: 'busy', by: group.revertBy };
}

export interface RevertAllDeps {
  db: Db;
  target: RevertTarget | undefined;
  logger: Logger;
  metrics: Metrics;
  concurrency?: number;
  /** REVERT_ALL_LEASE_MS unless given (crash tests use less). */
  leaseMs?: number;
}

/** How an attempt ended: `held` when another attempt holds the run; look again once its lease would have lapsed. */
export type RevertAllAttempt = { status: 'done' } | { status: 'held'; until: Date };

/**
 * The job: reverts the run's events not finished yet. On its last attempt a failure ends the run with the events left
 * recorded as failed (with the reason), so the message offers Retry failed instead of showing progress forever.
 */
export async function runRevertAll(
  deps: RevertAllDeps,
  job: RevertAllJob,
  lastAttempt: boolean,
): Promise<RevertAllAttempt> {
  const { db, metrics } = deps;
  const log = deps.logger.child({ groupId: job.groupId, run: job.run, workspaceId: job.workspaceId });
  const holding = { groupId: job.groupId, run: job.run, holder: randomUUID() };
  const leaseMs = deps.leaseMs ?? REVERT_ALL_LEASE_MS;
  const start = await beginRevertRun(db, job.groupId, job.run, holding.holder, leaseMs);
  if (start.kind === 'ended') {
    log.info('Revert all run already ended or replaced; nothing to do');
    return { status: 'done' };
  }
  if (start.kind === 'held') {
    log.info({ until: start.until }, 'Revert all run held by another attempt; looking again when its lease lapses');
    return { status: 'held', until: start.until };
  }
  const lease = keepLease(db, holding, leaseMs);
  const user = { id: start.group.revertBy ?? 'unknown' };
  try {
    const targets = await revertRunTargets(db, job.groupId, job.run);
    log.info(
      { events: targets.length, resumed: targets.some((t) => t.outcome === 'started') },
      'Revert all run started',
    );
    await eachConcurrently(targets, deps.concurrency ?? REVERT_ALL_CONCURRENCY, lease.held, async (member) => {
      const at = { ...member, ...holding };
      // Recorded before the revert: a run resumed after a crash knows the claim it finds in progress is its own. Not
      // recorded: this attempt lost the run to another (its lease lapsed while it stalled), which reverts the event.
      if (!(await recordRevertOutcome(db, at, 'started'))) return;
      const result = await revertEvent(
        { db, target: deps.target, logger: deps.logger.child({ action: 'revert-all' }) },
        {
          workspaceId: member.workspaceId,
          eventId: member.eventId,
          user,
          context: { via: 'slack', revertAll: { groupId: job.groupId, run: job.run } },
          resume: member.outcome === 'started',
        },
      );
      const { outcome, reason } = outcomeOf(result, member.outcome === 'started');
      if (await recordRevertOutcome(db, at, outcome, reason)) metrics.revertAllEvents.inc({ outcome });
    });
  } catch (error) {
    if (!lastAttempt) throw error;
    const reason = `Revert all stopped: ${error instanceof Error ? error.message : String(error)}`;
    for (const member of await revertRunTargets(db, job.groupId, job.run).catch(() => [])) {
      await recordRevertOutcome(db, { ...member, ...holding }, 'failed', reason).catch(() => false);
    }
    await finishRun(deps, holding, log);
    throw error;
  } finally {
    lease.stop();
  }
  if (!lease.held()) {
    log.warn('Revert all run taken over by another attempt (this one stalled past its lease); it finishes the run');
    return { status: 'done' };
  }
  await finishRun(deps, holding, log);
  return { status: 'done' };
}

/**
 * Queues a job for every run Postgres has as queued or running, at the relay's start and after Redis was found wiped.
 * At start the click's job id is used, so a run whose job Redis holds gets no second one; after a wipe (`epoch`: the
 * new one) a job id of its own, apart from the lost job that a worker may still be running (the lease keeps the two
 * from reverting side by side). Answers how many runs there were.
 */
export async function requeueRevertRuns(db: DbOrTx, queue: Queue<RevertAllJob>, epoch?: string): Promise<number> {
  const runs = await unfinishedRevertRuns(db);
  if (runs.length === 0) return 0;
  await queue.addBulk(
    runs.map((job) => ({ name: REVERT_ALL_JOB, data: job, opts: { jobId: revertAllJobId(job, epoch) } })),
  );
  return runs.length;
}

/** The worker that runs Revert all jobs: two runs at a time per process is plenty (each reverts several at once). */
export function createRevertAllWorker(
  deps: RevertAllDeps & { connection: Redis; prefix: string; workerOptions?: Partial<WorkerOptions> },
): Worker<RevertAllJob> {
  const worker = new Worker<RevertAllJob>(
    REVERT_ALL_QUEUE,
    async (job, token) => {
      const parsed = revertAllJobSchema.safeParse(job.data);
      if (!parsed.success) throw new UnrecoverableError(`invalid Revert all job: ${parsed.error.message}`);
      const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
      const attempt = await runRevertAll(deps, parsed.data, lastAttempt);
      if (attempt.status === 'held') {
        // Waiting is not failing: the job comes back after the lease, without using up an attempt.
        await job.moveToDelayed(Math.max(attempt.until.getTime(), Date.now()) + 100, token);
        throw new DelayedError();
      }
    },
    { connection: deps.connection, prefix: deps.prefix, concurrency: 2, ...deps.workerOptions },
  );
  worker.on('failed', (job, error) => {
    deps.logger.warn(
      { jobId: job?.id, attempts: job?.attemptsMade, err: error },
      'Revert all job failed; BullMQ retries it',
    );
  });
  logWorkerErrors(worker, deps.logger, 'Revert all worker error');
  return worker;
}

async function finishRun(
  deps: RevertAllDeps,
  holding: { groupId: number; run: number; holder: string },
  log: Logger,
): Promise<void> {
  const counts = await finishRevertRun(deps.db, holding);
  if (!counts) return;
  const failed = counts.failed ?? 0;
  const reverted = counts.reverted ?? 0;
  const outcome =
    failed === 0 ? 'succeeded' : reverted > 0 || (counts.already_reverted ?? 0) > 0 ? 'partly_failed' : 'failed';
  deps.metrics.revertAllRuns.inc({ outcome });
  log.info({ ...counts, outcome }, 'Revert all run finished');
}

/** Renews the attempt's lease on its run every third of `leaseMs` until stopped; `held` turns false once it is lost. */
function keepLease(
  db: Db,
  holding: { groupId: number; run: number; holder: string },
  leaseMs: number,
): { held: () => boolean; stop: () => void } {
  let held = true;
  const renewal = setInterval(
    () => {
      renewRevertRunLease(db, holding, leaseMs).then(
        (renewed) => {
          if (!renewed) held = false;
        },
        // Postgres away: the lease may lapse; the next renewal (or the next recorded outcome) tells.
        () => {},
      );
    },
    Math.max(50, Math.floor(leaseMs / 3)),
  );
  renewal.unref();
  return { held: () => held, stop: () => clearInterval(renewal) };
}

/** `resumed`: this run had started the event before its worker died, so a revert found done is this run's own. */
function outcomeOf(
  result: RevertResult,
  resumed: boolean,
): { outcome: Exclude<MemberOutcome, 'started'>; reason?: string } {
  switch (result.status) {
    case 'reverted':
      return { outcome: 'reverted' };
    case 'already_reverted':
      return { outcome: resumed ? 'reverted' : 'already_reverted' };
    case 'not_revertible':
      return { outcome: 'not_revertible', reason: `a ${result.eventType} event cannot be reverted automatically` };
    case 'not_found':
      return { outcome: 'failed', reason: 'the event is no longer stored' };
    case 'in_progress':
      return {
        outcome: 'failed',
        reason: `it was being reverted at the same time (by Slack user ${result.by}); see its alert`,
      };
    case 'failed':
      return { outcome: 'failed', reason: result.reason };
  }
}

/**
 * Runs `work` on each item, at most `limit` at a time, while `go()` says so; the first failure stops new work and is
 * thrown.
 */
async function eachConcurrently<T>(
  items: readonly T[],
  limit: number,
  go: () => boolean,
  work: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const runner = async () => {
    while (!failure && next < items.length && go()) {
      const item = items[next++]!;
      await work(item).catch((error: unknown) => {
        failure ??= { error };
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, runner));
  if (failure) throw failure.error;
}
