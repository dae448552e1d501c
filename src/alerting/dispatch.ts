/**
 * The posting stage of alerting: everything after the alert worker has claimed an alert row.
 *
 * Postgres is the queue (store/alert-queue.ts): the worker commits the claimed alert there, with its priority and
 * event order, or puts it in a group (store/alert-groups.ts), and returns. One dispatcher per Slack channel at a
 * time, across every worker process, holds the channel's lease in Redis and posts what waits: critical first, then
 * warning, then info, each in event order, one post per pace slot (the slot schedule is shared in Redis too). Because
 * the choice is made from the table when the slot comes, not from what one process happens to hold in memory, the
 * priority holds across all workers: a critical alert waits at most one slot, whatever storm of warnings is queued.
 *
 * Grouped messages are updated in place by one updater at a time (its own lease), at chat.update's pace: every change
 * to a group between two updates costs one call. Storm protection runs before each post: a rule with more than
 * STORM_LIMIT alerts waiting alone for the channel has them collapsed into one grouped message per actor.
 *
 * Dispatchers are woken at once in the process that queued an alert, in every other process by a Postgres NOTIFY sent
 * with the queuing statement (the lease holder may be elsewhere), and by a sweep every few seconds should a
 * notification be lost. A holder that dies mid-post leaves its lease to lapse; the next holder finds the alert
 * attempted and looks in the channel (message metadata) before posting it again.
 */

import { eq } from 'drizzle-orm';
import type { Redis } from 'ioredis';
import type postgres from 'postgres';
import type { StoredEvent } from '../events.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import { exponentialDelay } from '../retry.ts';
import { type AlertRule, buildAlertMessage } from '../slack/blocks/alert.ts';
import { buildGroupedAlertMessage } from '../slack/blocks/grouped-alert.ts';
import {
  type ClosedGroup,
  closeExpiredGroups,
  type GroupOutcome,
  type GroupSummary,
  groupSummary,
  joinOrOpenGroup,
  nextStaleGroup,
  recordGroupPosted,
  recordGroupShown,
  retryGroupUpdateLater,
  tryJoinOpenGroup,
  waitingAlone,
} from '../store/alert-groups.ts';
import {
  channelsWithDueAlerts,
  DISPATCH_CHANNEL,
  flooding,
  nextQueued,
  notifyDispatch,
  recordPostAttempt,
  removeQueued,
  retryQueuedLater,
} from '../store/alert-queue.ts';
import { type AlertKey, markAlertFailed, markAlertSent, recordAlertError } from '../store/alerts.ts';
import type { Db } from '../store/db.ts';
import { getEvent } from '../store/queries.ts';
import type { AlertQueueRow } from '../store/schema/index.ts';
import { alertGroups } from '../store/schema/index.ts';
import { DEFAULT_STORM_WITHIN_MS, PRIORITY, ruleGroupCandidate, STORM_LIMIT, stormCandidate } from './grouping.ts';
import { acquireLease, type HeldLease } from './lease.ts';
import type { EvaluationGate } from './ordering.ts';
import type { RuleSet } from './rule-loader.ts';
import type { Rule, Severity } from './rules/types.ts';
import { type OutgoingMessage, PermanentSlackError, type PostedAlert, type SlackAlertSender } from './slack-sender.ts';

export interface DispatchOptions {
  /** How long a lease lasts unless renewed: another process takes over a dead holder's channel after this. */
  leaseMs?: number;
  /** How often each process looks for due alerts and stale messages a lost notification would have left. */
  sweepIntervalMs?: number;
  /** How long a storm group stays open after its latest match. */
  stormWithinMs?: number;
  /** The longest an alert is held back for an earlier event still going through the rules (ordering.ts). */
  orderWaitMs?: number;
  /** Open groups are closed this long after their window ends: a match received in time may still be on its way. */
  closeGraceMs?: number;
}

export interface DispatcherDeps {
  db: Db;
  /** For LISTEN. */
  sql: postgres.Sql;
  /** Leases. */
  redis: Redis;
  prefix: string;
  sender: SlackAlertSender;
  rules: RuleSet;
  revertEnabled: boolean;
  gate?: EvaluationGate;
  /** A single alert's message; buildAlertMessage unless given (the hook for what else an alert should carry). */
  alertMessage?: (event: StoredEvent, rule: AlertRule) => Promise<OutgoingMessage> | OutgoingMessage;
  /** A grouped alert's message, each time it is drawn; buildGroupedAlertMessage unless given (the same hook). */
  groupedAlertMessage?: (summary: GroupSummary, rule: AlertRule) => Promise<OutgoingMessage> | OutgoingMessage;
  logger: Logger;
  metrics: Metrics;
  options?: DispatchOptions;
}

const DEFAULTS = {
  leaseMs: 10_000,
  sweepIntervalMs: 2000,
  stormWithinMs: DEFAULT_STORM_WITHIN_MS,
  orderWaitMs: 1000,
  closeGraceMs: 5000,
} satisfies Required<DispatchOptions>;

/** A queued alert's message, and the version of its group it shows (0 for an alert alone). */
interface Prepared {
  message: OutgoingMessage;
  version: number;
  grouped: boolean;
}

/** The pause before a grouped message whose update failed for a passing reason is tried again. */
const UPDATE_RETRY_MS = 5000;

/** How often a held-back alert asks again whether the earlier event has reached the queue. */
const ORDER_POLL_MS = 15;

/** Backoff of a post or update that failed for a passing reason: 1 s doubling, at most 5 minutes. */
const retryDelay = (attempts: number) => exponentialDelay(attempts, 1000, 5 * 60_000);

export class AlertDispatcher {
  private readonly options: Required<DispatchOptions>;
  private readonly postLanes = new Map<string, Lane>();
  private readonly updateLane: Lane;
  private readonly log: Logger;
  /** When each alert was first held back for event order (ordering.ts), to end the wait after orderWaitMs. */
  private readonly heldSince = new Map<string, number>();
  private listener: postgres.ListenMeta | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping = false;
  private stopped = false;

  constructor(private readonly deps: DispatcherDeps) {
    this.options = { ...DEFAULTS, ...withoutUndefinedOptions(deps.options) };
    this.log = deps.logger.child({ component: 'dispatch' });
    this.updateLane = new Lane(
      'updates',
      () => acquireLease(deps.redis, `${deps.prefix}:dispatch-lease:updates`, this.options.leaseMs),
      (lease) => this.updateStep(lease),
      this.log,
      () => this.stopped,
    );
  }

  async start(): Promise<void> {
    this.listener = await this.deps.sql.listen(
      DISPATCH_CHANNEL,
      (payload) => this.notified(payload),
      // (Re)connected: anything notified meanwhile is found by a sweep.
      () => void this.sweep(),
    );
    this.sweepTimer = setInterval(() => void this.sweep(), this.options.sweepIntervalMs);
    void this.sweep();
  }

  /** Stops waking lanes and waits for the steps in progress (a post under way finishes and is recorded). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.sweepTimer);
    await this.listener?.unlisten().catch(() => {});
    await Promise.all([...this.postLanes.values(), this.updateLane].map((lane) => lane.idle()));
  }

  /**
   * The posting stage for a claimed alert: into its rule's group, into an open storm group of its actor, or onto the
   * channel's queue. Committed before this resolves, so the alert worker's job may finish: from here the alert is the
   * dispatchers' to post, however the worker fares.
   */
  async enqueue(rule: Rule, event: StoredEvent, options: { mayBePosted?: boolean } = {}): Promise<void> {
    // An alert that may be in the channel already counts as attempted: the dispatcher looks for it before posting.
    const attempts = options.mayBePosted ? 1 : 0;
    const key = { workspaceId: event.workspaceId, eventId: event.id, ruleId: rule.id };
    const candidate = ruleGroupCandidate(rule, event);
    const { db } = this.deps;
    let outcome: GroupOutcome;
    if (candidate) {
      // Usually a join, in one statement; opening a group (or closing one past its window first) takes a transaction.
      outcome =
        (await tryJoinOpenGroup(db, candidate, 'queue')) ??
        (await db.transaction(async (tx) => {
          const grouped = await joinOrOpenGroup(tx, { ...candidate, attempts }, 'queue');
          await notifyDispatch(tx, grouped.kind === 'opened' ? rule.channel : undefined);
          return grouped;
        }));
    } else {
      // A rule without `group` joins its actor's storm group while one is open (storm protection), else waits alone.
      const storm = stormCandidate(
        rule,
        { ...key, seq: event.seq, receivedAt: event.receivedAt, actorId: event.actor.id },
        this.options.stormWithinMs,
      );
      const alone = { priority: PRIORITY[rule.severity], attempts };
      outcome = (await tryJoinOpenGroup(db, storm, 'never', alone)) ?? { kind: 'none' };
    }
    this.counted(rule.id, outcome);
    if (outcome.kind === 'joined') this.updateLane.wake();
    else this.postLane(rule.channel).wake();
  }

  private counted(ruleId: string, outcome: GroupOutcome): void {
    if (outcome.kind === 'joined') {
      this.deps.metrics.alerts.inc({ rule: ruleId, outcome: 'grouped' });
      if (outcome.count === 2) this.deps.metrics.groupedMessages.inc({ kind: outcome.groupKind });
    }
    if (outcome.kind !== 'member' && outcome.closed) this.observeClosed([outcome.closed]);
  }

  private observeClosed(closed: readonly ClosedGroup[]): void {
    for (const group of closed) this.deps.metrics.groupEvents.observe({ kind: group.kind }, group.count);
  }

  private notified(payload: string): void {
    if (payload === 'u') this.updateLane.wake();
    else if (payload.startsWith('p:')) this.postLane(payload.slice(2)).wake();
  }

  private postLane(channel: string): Lane {
    let lane = this.postLanes.get(channel);
    if (!lane) {
      lane = new Lane(
        channel,
        () => acquireLease(this.deps.redis, `${this.deps.prefix}:dispatch-lease:post:${channel}`, this.options.leaseMs),
        (lease) => this.postStep(channel, lease),
        this.log,
        () => this.stopped,
      );
      this.postLanes.set(channel, lane);
    }
    return lane;
  }

  /** Wakes what a lost notification would have woken, and closes groups whose window has ended. */
  private async sweep(): Promise<void> {
    if (this.sweeping || this.stopped) return;
    this.sweeping = true;
    try {
      // Alerts held back for order that another process posted since are forgotten here.
      for (const [id, since] of this.heldSince)
        if (Date.now() - since > 10 * this.options.orderWaitMs) this.heldSince.delete(id);
      for (const channel of await channelsWithDueAlerts(this.deps.db)) this.postLane(channel).wake();
      if (await nextStaleGroup(this.deps.db)) this.updateLane.wake();
      this.observeClosed(await closeExpiredGroups(this.deps.db, this.options.closeGraceMs));
    } catch (error) {
      this.log.warn({ err: error }, 'alert dispatch sweep failed; the next one tries again');
    } finally {
      this.sweeping = false;
    }
  }

  // ---- posting -------------------------------------------------------------------------------------------------

  /** One post to the channel, if anything is due: the slot first, then the most urgent alert at that moment. */
  private async postStep(channel: string, lease: HeldLease): Promise<boolean> {
    let entry = await this.pick(channel);
    if (!entry) return false;
    const wait = await this.deps.sender.reservePostSlot(channel);
    if (wait > 0) {
      await sleep(wait);
      // Chosen again after the wait: whatever arrived meanwhile competes, so a critical alert goes first.
      entry = undefined;
    }
    for (;;) {
      if (!lease.held() || this.stopped) return false;
      entry ??= await this.pick(channel);
      if (!entry) return true;
      const rule = this.alertRule(entry.ruleId, entry.priority);
      // Side by side: the order check is the only wait before a post to an idle channel.
      const [heldBack, prepared] = await Promise.all([this.heldBackForOrder(entry), this.prepare(entry, rule)]);
      if (heldBack) {
        await sleep(ORDER_POLL_MS);
        entry = undefined;
        continue;
      }
      if (!prepared) {
        await this.drop(entry);
        return true;
      }
      if (prepared === 'joined') return true;
      // Counted only while nothing is queued ahead of it: an earlier event's alert may have been queued just as its job
      // finished, which the order check (seeing that job gone) cannot tell; then the earlier one goes first.
      const attempts = await recordPostAttempt(this.deps.db, entry);
      if (attempts === undefined) {
        entry = undefined;
        continue;
      }
      await this.post(entry, rule, prepared, attempts);
      return true;
    }
  }

  /** The most urgent alert due for the channel, after storm protection has had its say. */
  private async pick(channel: string): Promise<AlertQueueRow | undefined> {
    const { db } = this.deps;
    const [floods, next] = await Promise.all([flooding(db, channel, STORM_LIMIT), nextQueued(db, channel)]);
    if (floods.length === 0) return next;
    await this.collapseStorms(channel, floods);
    return nextQueued(db, channel);
  }

  private async heldBackForOrder(entry: AlertQueueRow): Promise<boolean> {
    const { gate } = this.deps;
    if (!gate) return false;
    const id = `${entry.workspaceId}\u0000${entry.eventId}\u0000${entry.ruleId}`;
    const since = this.heldSince.get(id) ?? Date.now();
    if (Date.now() - since >= this.options.orderWaitMs) {
      this.heldSince.delete(id);
      return false;
    }
    const earlier = await gate
      .earlierMayAlert({
        workspaceId: entry.workspaceId,
        seq: entry.seq,
        channel: entry.channel,
        priority: entry.priority,
        grouped: entry.groupId !== null,
      })
      .catch((error: unknown) => {
        this.log.debug({ err: error }, 'could not tell whether an earlier event is still being evaluated; posting');
        return false;
      });
    if (earlier) this.heldSince.set(id, since);
    else this.heldSince.delete(id);
    return earlier;
  }

  /** Storm protection: a rule with more than STORM_LIMIT alerts waiting alone gets them grouped by actor. */
  private async collapseStorms(channel: string, ruleIds: readonly string[]): Promise<void> {
    const { db } = this.deps;
    for (const ruleId of ruleIds) {
      const rule = this.deps.rules.current().find((r) => r.id === ruleId);
      // A rule that gained `group` since, or was removed, keeps its waiting alerts as they are.
      if (!rule || rule.group) continue;
      const byActor = new Map<string, Awaited<ReturnType<typeof waitingAlone>>>();
      for (const alert of await waitingAlone(db, channel, ruleId)) {
        const actor = `${alert.workspaceId}\u0000${alert.actorId}`;
        byActor.set(actor, [...(byActor.get(actor) ?? []), alert]);
      }
      for (const alerts of byActor.values()) {
        if (alerts.length < 2) continue;
        const outcomes = await db.transaction(async (tx) => {
          const done: GroupOutcome[] = [];
          for (const alert of alerts) {
            done.push(await joinOrOpenGroup(tx, stormCandidate(rule, alert, this.options.stormWithinMs), 'convert'));
          }
          await notifyDispatch(tx, undefined);
          return done;
        });
        for (const outcome of outcomes) this.counted(ruleId, outcome);
        this.log.info(
          { ruleId, channel, actor: alerts[0]!.actorId, alerts: alerts.length },
          'storm protection grouped waiting alerts',
        );
        this.updateLane.wake();
      }
    }
  }

  /** An alert whose event is no longer stored (purged by retention while it waited): recorded as failed, not posted. */
  private async drop(entry: AlertQueueRow): Promise<void> {
    const key: AlertKey = { workspaceId: entry.workspaceId, eventId: entry.eventId, ruleId: entry.ruleId };
    await this.deps.db.transaction(async (tx) => {
      await markAlertFailed(tx, key, 'event_purged');
      await removeQueued(tx, key);
    });
    this.log.warn({ ...key, channel: entry.channel }, 'the event is no longer stored (purged?); its alert is dropped');
  }

  /** Posts a queued alert whose attempt is counted (`attempts` with this one). */
  private async post(entry: AlertQueueRow, rule: AlertRule, prepared: Prepared, attempts: number): Promise<void> {
    const { db, sender, metrics } = this.deps;
    const key: AlertKey = { workspaceId: entry.workspaceId, eventId: entry.eventId, ruleId: entry.ruleId };
    const log = this.log.child({
      ...key,
      channel: entry.channel,
      ...(entry.groupId !== null && { groupId: entry.groupId }),
    });
    if (attempts > 1) {
      // An earlier attempt may have posted and died before recording it: look before posting again.
      const found = await sender.findPosted(entry.channel, key, entry.createdAt.getTime()).catch((error: unknown) => {
        log.warn({ err: error }, 'could not check the channel for an earlier post; posting');
        return undefined;
      });
      if (found) {
        // What the found message shows is unknown, so a group's is brought up to date by the updater.
        await this.recordPosted(entry, found, 0);
        metrics.alerts.inc({ rule: entry.ruleId, outcome: 'posted' });
        log.info({ ts: found.ts }, 'alert was already in the channel; recorded it');
        return;
      }
    }
    try {
      const posted = await sender.post(entry.channel, prepared.message);
      await this.recordPosted(entry, posted, prepared.version);
      metrics.alerts.inc({ rule: entry.ruleId, outcome: 'posted' });
      metrics.alertLatency.observe({ severity: rule.severity }, (Date.now() - entry.receivedAt.getTime()) / 1000);
      log.info({ ts: posted.ts, grouped: prepared.grouped }, 'alert posted');
    } catch (error) {
      if (error instanceof PermanentSlackError) {
        await db.transaction(async (tx) => {
          await markAlertFailed(tx, key, error.code);
          await removeQueued(tx, key);
          // The message will never exist: later matches open a group of their own rather than wait on this one.
          if (entry.groupId !== null)
            await tx.update(alertGroups).set({ status: 'closed' }).where(eq(alertGroups.id, entry.groupId));
        });
        metrics.alerts.inc({ rule: entry.ruleId, outcome: 'failed' });
        log.error({ error: error.code }, `alert not posted: Slack answered ${error.code}; it will not be retried`);
        return;
      }
      const reason = error instanceof Error ? error.message : String(error);
      await recordAlertError(db, key, reason);
      await retryQueuedLater(db, key, retryDelay(attempts), reason);
      metrics.alerts.inc({ rule: entry.ruleId, outcome: 'retried' });
      log.warn({ err: error, attempts }, 'alert not posted; it will be tried again');
    }
  }

  /**
   * The message for a queued alert and the group version it shows; undefined when its event is gone. `joined` when an
   * alert waiting alone has since got an open storm group for its rule and actor (queued while storm protection was
   * collapsing its batch-mates): it joins that group's message instead of posting alone.
   */
  private async prepare(entry: AlertQueueRow, rule: AlertRule): Promise<Prepared | 'joined' | undefined> {
    if (entry.groupId !== null) {
      const summary = await groupSummary(this.deps.db, entry.groupId);
      if (summary && summary.group.count > 1) {
        const message = await this.groupedMessage(summary, rule);
        return { message, version: summary.group.version, grouped: true };
      }
      const event = await getEvent(this.deps.db, entry.workspaceId, entry.eventId);
      return (
        event && {
          message: await this.singleMessage(event, rule),
          version: summary?.group.version ?? 0,
          grouped: false,
        }
      );
    }
    const event = await getEvent(this.deps.db, entry.workspaceId, entry.eventId);
    if (!event) return undefined;
    const live = this.deps.rules.current().find((r) => r.id === entry.ruleId);
    if (live && !live.group && entry.attempts === 0) {
      const alert = { ...entry, receivedAt: event.receivedAt, actorId: event.actor.id };
      const storm = stormCandidate(live, alert, this.options.stormWithinMs);
      const joined = await tryJoinOpenGroup(this.deps.db, storm, 'convert');
      if (joined) {
        this.counted(entry.ruleId, joined);
        this.updateLane.wake();
        return 'joined';
      }
    }
    return { message: await this.singleMessage(event, rule), version: 0, grouped: false };
  }

  private singleMessage(event: StoredEvent, rule: AlertRule): Promise<OutgoingMessage> | OutgoingMessage {
    return (
      this.deps.alertMessage?.(event, rule) ??
      buildAlertMessage({ event, rule, revertEnabled: this.deps.revertEnabled })
    );
  }

  private groupedMessage(summary: GroupSummary, rule: AlertRule): Promise<OutgoingMessage> | OutgoingMessage {
    return (
      this.deps.groupedAlertMessage?.(summary, rule) ??
      buildGroupedAlertMessage({ summary, rule, revertEnabled: this.deps.revertEnabled })
    );
  }

  private async recordPosted(entry: AlertQueueRow, posted: PostedAlert, version: number): Promise<void> {
    const key = { workspaceId: entry.workspaceId, eventId: entry.eventId, ruleId: entry.ruleId };
    const stale = await this.deps.db.transaction(async (tx) => {
      await markAlertSent(tx, key, posted);
      await removeQueued(tx, key);
      if (entry.groupId === null) return false;
      await recordGroupPosted(tx, entry.groupId, posted, version);
      const [group] = await tx
        .select({ version: alertGroups.version })
        .from(alertGroups)
        .where(eq(alertGroups.id, entry.groupId));
      return (group?.version ?? 0) > version;
    });
    // Matches that joined while the message was on its way: the updater brings it up to date.
    if (stale) this.updateLane.wake();
  }

  /** The rule as it is now; a rule removed since its alert was queued still posts, with what the queue kept. */
  private alertRule(ruleId: string, priority: number): AlertRule {
    const rule = this.deps.rules.current().find((r) => r.id === ruleId);
    if (rule) return rule;
    const severity = (Object.entries(PRIORITY).find(([, p]) => p === priority)?.[0] ?? 'warning') as Severity;
    return { id: ruleId, description: ruleId, severity, mention: [], revert: false };
  }

  // ---- updating grouped messages -------------------------------------------------------------------------------

  /** One chat.update of the most urgent group whose message is behind, at chat.update's shared pace. */
  private async updateStep(lease: HeldLease): Promise<boolean> {
    const { db, sender } = this.deps;
    if (!(await nextStaleGroup(db))) return false;
    const wait = await sender.reserveUpdateSlot();
    if (wait > 0) await sleep(wait);
    if (!lease.held() || this.stopped) return false;
    // Read after the wait: every change made meanwhile goes out in this one update.
    const stale = await nextStaleGroup(db);
    if (!stale) return true;
    const summary = await groupSummary(db, stale.id);
    if (!summary?.group.ts || !summary.group.channelId || summary.group.count < 2) {
      await recordGroupShown(db, stale.id, stale.version);
      return true;
    }
    const { group } = summary;
    const rule = this.alertRule(group.ruleId, PRIORITY[group.severity as Severity] ?? 1);
    const log = this.log.child({ groupId: group.id, ruleId: group.ruleId, channel: group.channel });
    const message = await this.groupedMessage(summary, rule);
    try {
      await sender.update({ channelId: group.channelId!, ts: group.ts! }, message);
      await recordGroupShown(db, group.id, group.version);
      log.debug({ count: group.count, version: group.version }, 'grouped alert updated');
    } catch (error) {
      if (error instanceof PermanentSlackError) {
        await recordGroupShown(db, group.id, group.version);
        log.error({ error: error.code }, `grouped alert not updated: Slack answered ${error.code}`);
        return true;
      }
      // The next try draws the group afresh, so nothing is lost by waiting; a fixed pause keeps this simple.
      await retryGroupUpdateLater(
        db,
        group.id,
        UPDATE_RETRY_MS,
        error instanceof Error ? error.message : String(error),
      );
      log.warn({ err: error }, 'grouped alert not updated; it will be tried again');
    }
    return true;
  }
}

/**
 * One lane of work that at most one process runs at a time (a channel's posts, or the message updates): woken any
 * number of times, it takes the lease, steps until there is nothing to do, and gives the lease back. A wake while it
 * runs makes it look again before it stops, so work queued during its last look is never left behind.
 */
class Lane {
  private running: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly name: string,
    private readonly acquire: () => Promise<HeldLease | undefined>,
    private readonly step: (lease: HeldLease) => Promise<boolean>,
    private readonly log: Logger,
    private readonly stopped: () => boolean,
  ) {}

  wake(): void {
    if (this.stopped()) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.again = false;
    this.running = this.run()
      .catch((error: unknown) => {
        // Postgres or Redis away: the sweep wakes the lane again in a few seconds.
        this.log.warn({ err: error, lane: this.name }, 'alert dispatch lane failed; it is retried shortly');
        this.again = false;
      })
      .finally(() => {
        this.running = undefined;
        if (this.again) this.wake();
      });
  }

  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async run(): Promise<void> {
    const lease = await this.acquire();
    // Another process holds it; the notification that woke this one woke that one too.
    if (!lease) return;
    try {
      while (!this.stopped() && lease.held()) {
        this.again = false;
        const worked = await this.step(lease);
        if (!worked && !this.again) break;
      }
    } finally {
      await lease.release();
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function withoutUndefinedOptions(options: DispatchOptions | undefined): DispatchOptions {
  return Object.fromEntries(Object.entries(options ?? {}).filter(([, value]) => value !== undefined));
}
