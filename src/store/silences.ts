/**
 * Silences: made and ended with their audit event in one transaction, looked up by the alert worker (which records a
 * held-back alert in the same statement that finds the silence), and their end-of-silence summaries claimed once.
 */
import { and, asc, count, desc, eq, getTableColumns, gt, isNull, sql } from 'drizzle-orm';
import type { Actor, IncomingEvent, StoredEvent } from '../events.ts';
import { touchGroupHeadedBy } from './alert-groups.ts';
import type { AlertKey } from './alerts.ts';
import { appendEvents } from './append.ts';
import type { Db, DbOrTx } from './db.ts';
import { notifyHomeChanged } from './home-changes.ts';
import { rowToEvent } from './rows.ts';
import { alerts, events, type SilenceRow, silences } from './schema/index.ts';

/** Audit event types of silence changes: outside the catalog, so category Other. */
export const ALERT_SILENCED_TYPE = 'Alert Silenced';
export const ALERT_UNSILENCED_TYPE = 'Alert Unsilenced';

/** Who asks, and from where: the audit event's actor and context. */
export interface SilenceRequester {
  actor: Actor & { type: 'user' };
  context?: Record<string, unknown>;
}

export interface NewSilence extends SilenceRequester {
  workspaceId: string;
  ruleId: string;
  /** Undefined: every resource of the rule. */
  resourceId?: string;
  /** The rule's channel, where the summary goes. */
  channel: string;
  durationMs: number;
  /** How the duration was asked for (`8h`), for the audit event. */
  duration: string;
  /**
   * The alert whose Silence… menu was used (a grouped message's: the group's first alert, and `groupId`): its row
   * keeps who silenced and for how long, so a grouped message it heads shows that each time it is redrawn.
   */
  fromAlert?: AlertKey & { groupId?: number };
}

export interface SilenceMade {
  silence: SilenceRow;
  /** An active silence of the same rule and resource was extended (or shortened) instead of a second one made. */
  replaced: boolean;
  eventId: string;
}

/**
 * Starts a silence, or moves the end of the active one for the same rule and resource (two silences of one thing
 * would post two summaries). The audit event commits with it.
 */
export async function createSilence(db: Db, request: NewSilence): Promise<SilenceMade> {
  const { workspaceId, ruleId } = request;
  const resourceId = request.resourceId ?? null;
  return db.transaction(async (tx) => {
    // Two owners silencing the same thing at once queue here instead of making two rows.
    await tx.execute(
      sql`select pg_advisory_xact_lock(hashtext(${`silence:${workspaceId}:${ruleId}:${resourceId ?? ''}`}))`,
    );
    const [current] = await tx
      .select()
      .from(silences)
      .where(
        and(
          activeSilence(workspaceId, ruleId),
          resourceId === null ? isNull(silences.resourceId) : eq(silences.resourceId, resourceId),
        ),
      )
      .orderBy(desc(silences.endsAt))
      .limit(1)
      .for('update');
    const endsAt = sql`now() + ${`${request.durationMs} milliseconds`}::interval`;
    const [silence] = current
      ? await tx.update(silences).set({ endsAt }).where(eq(silences.id, current.id)).returning()
      : await tx
          .insert(silences)
          .values({ workspaceId, ruleId, resourceId, channel: request.channel, createdBy: request.actor.id, endsAt })
          .returning();
    const row = silence!;
    const { fromAlert } = request;
    if (fromAlert) {
      await tx
        .update(alerts)
        .set({ silencedBy: request.actor.id, silencedFor: request.duration, silencedWith: row.id })
        .where(
          and(
            eq(alerts.workspaceId, fromAlert.workspaceId),
            eq(alerts.eventId, fromAlert.eventId),
            eq(alerts.ruleId, fromAlert.ruleId),
          ),
        );
      await touchGroupHeadedBy(tx, fromAlert);
    }
    const eventId = await recordChange(tx, workspaceId, {
      type: ALERT_SILENCED_TYPE,
      ...requesterFields(request),
      resource: { type: 'alert_rule', id: ruleId },
      metadata: {
        silenceId: row.id,
        ruleId,
        resourceId,
        duration: request.duration,
        endsAt: row.endsAt.toISOString(),
        ...(current && { extended: true, previousEndsAt: current.endsAt.toISOString() }),
        ...(fromAlert?.groupId !== undefined && { groupId: fromAlert.groupId }),
      },
    });
    await notifyHomeChanged(tx, workspaceId);
    return { silence: row, replaced: Boolean(current), eventId };
  });
}

export type SilenceEnded =
  | { status: 'ended'; silence: SilenceRow; eventId: string }
  | { status: 'not_found' }
  | { status: 'already_ended'; silence: SilenceRow };

/** Ends a silence early (`/audit unsilence`, the Unsilence button); its summary follows as when time runs out. */
export async function endSilence(
  db: Db,
  request: SilenceRequester & { workspaceId: string; id: number },
): Promise<SilenceEnded> {
  const { workspaceId } = request;
  return db.transaction(async (tx) => {
    const [current] = await tx
      .select()
      .from(silences)
      .where(and(eq(silences.workspaceId, workspaceId), eq(silences.id, request.id)))
      .for('update');
    if (!current) return { status: 'not_found' };
    const [ended] = await tx
      .update(silences)
      .set({ endedAt: sql`now()`, endedBy: request.actor.id, endsAt: sql`least(${silences.endsAt}, now())` })
      .where(and(eq(silences.id, current.id), isNull(silences.endedAt), gt(silences.endsAt, sql`now()`)))
      .returning();
    if (!ended) return { status: 'already_ended', silence: current };
    const eventId = await recordChange(tx, workspaceId, {
      type: ALERT_UNSILENCED_TYPE,
      ...requesterFields(request),
      resource: { type: 'alert_rule', id: ended.ruleId },
      metadata: {
        silenceId: ended.id,
        ruleId: ended.ruleId,
        resourceId: ended.resourceId,
        silencedBy: ended.createdBy,
        plannedEndsAt: current.endsAt.toISOString(),
      },
    });
    await notifyHomeChanged(tx, workspaceId);
    return { status: 'ended', silence: ended, eventId };
  });
}

function activeSilence(workspaceId: string, ruleId?: string) {
  return and(
    eq(silences.workspaceId, workspaceId),
    ruleId === undefined ? undefined : eq(silences.ruleId, ruleId),
    isNull(silences.endedAt),
    gt(silences.endsAt, sql`now()`),
  );
}

function requesterFields(request: SilenceRequester): Pick<IncomingEvent, 'actor' | 'context'> {
  return { actor: request.actor, ...(request.context && { context: request.context }) };
}

async function recordChange(tx: DbOrTx, workspaceId: string, event: IncomingEvent): Promise<string> {
  const { stored } = await appendEvents(tx, workspaceId, [event]);
  return stored[0]!.id;
}

export interface ActiveSilence extends SilenceRow {
  /** Alerts held back so far. */
  heldBack: number;
}

/** The workspace's running silences, ending soonest first, each with how many alerts it has held back. */
export async function listActiveSilences(db: DbOrTx, workspaceId: string, limit = 100): Promise<ActiveSilence[]> {
  const rows = await db
    .select({
      ...getTableColumns(silences),
      heldBack: sql<number>`(select count(*) from ${alerts} where ${alerts.silenceId} = ${silences.id})::int`,
    })
    .from(silences)
    .where(activeSilence(workspaceId))
    .orderBy(asc(silences.endsAt), asc(silences.id))
    .limit(limit);
  return rows;
}

export async function countActiveSilences(db: DbOrTx, workspaceId: string): Promise<number> {
  const [row] = await db.select({ n: count() }).from(silences).where(activeSilence(workspaceId));
  return row?.n ?? 0;
}

export async function getSilence(db: DbOrTx, workspaceId: string, id: number): Promise<SilenceRow | undefined> {
  const [row] = await db
    .select()
    .from(silences)
    .where(and(eq(silences.workspaceId, workspaceId), eq(silences.id, id)));
  return row;
}

/**
 * Records the alert of (event, rule) as held back, when a silence of the rule covers the event's resource now; the
 * silence's id, or undefined when none does or the alert is already recorded (an earlier attempt's row then decides).
 *
 * One statement, so the check and the record cannot be torn apart: the silence row is share-locked, and a silence
 * whose summary has been claimed (summary_attempts > 0) no longer counts, so the summary's count, taken after its
 * claim, includes every alert this ever records for it.
 */
export async function recordSilencedAlert(
  db: DbOrTx,
  alert: { workspaceId: string; eventId: string; ruleId: string; channel: string; resourceId: string },
): Promise<number | undefined> {
  const rows = await db.execute<{ silence_id: number }>(sql`
    with silence as (
      select ${silences.id} as id from ${silences}
      where ${silences.workspaceId} = ${alert.workspaceId} and ${silences.ruleId} = ${alert.ruleId}
        and (${silences.resourceId} = ${alert.resourceId} or ${silences.resourceId} is null)
        and ${silences.endedAt} is null and ${silences.endsAt} > now() and ${silences.summaryAttempts} = 0
      order by ${silences.endsAt} desc
      limit 1
      for share
    )
    insert into ${alerts} (workspace_id, event_id, rule_id, channel, status, silence_id, attempts)
    select ${alert.workspaceId}, ${alert.eventId}, ${alert.ruleId}, ${alert.channel}, 'silenced', silence.id, 1
    from silence
    on conflict do nothing
    returning silence_id`);
  const silenceId = rows[0]?.silence_id;
  if (silenceId !== undefined) await notifyHomeChanged(db, alert.workspaceId);
  return silenceId;
}

/**
 * Claims one ended silence whose summary is due (never posted, and no other worker's lease running), for `leaseMs`.
 * `summaryAttempts` above 1 means an earlier claim may have posted before it died: look in the channel first.
 */
export async function claimDueSilenceSummary(db: DbOrTx, leaseMs: number): Promise<SilenceRow | undefined> {
  const rows = await db.execute<{ id: number }>(sql`
    update ${silences} set
      summary_attempts = ${silences.summaryAttempts} + 1,
      summary_lease_until = now() + ${`${leaseMs} milliseconds`}::interval
    where ${silences.id} = (
      select ${silences.id} from ${silences}
      where ${silences.summaryStatus} is null and ${silences.endsAt} <= now()
        and (${silences.summaryLeaseUntil} is null or ${silences.summaryLeaseUntil} < now())
      order by ${silences.endsAt}
      limit 1
      for update skip locked
    )
    returning id`);
  const id = rows[0]?.id;
  if (id === undefined) return undefined;
  const [row] = await db.select().from(silences).where(eq(silences.id, id));
  return row;
}

export async function markSilenceSummary(
  db: DbOrTx,
  id: number,
  outcome: { status: 'posted'; channelId: string; ts: string } | { status: 'logged' } | { status: 'failed' },
): Promise<void> {
  await db
    .update(silences)
    .set({
      summaryStatus: outcome.status,
      summaryLeaseUntil: null,
      ...(outcome.status === 'posted' && { summaryChannelId: outcome.channelId, summaryTs: outcome.ts }),
    })
    .where(eq(silences.id, id));
}

/** Shortens a summary's lease after a failed try, so any worker tries again `retryMs` from now. */
export async function retrySilenceSummaryIn(db: DbOrTx, id: number, retryMs: number): Promise<void> {
  await db
    .update(silences)
    .set({ summaryLeaseUntil: sql`now() + ${`${retryMs} milliseconds`}::interval` })
    .where(eq(silences.id, id));
}

export async function countHeldBack(db: DbOrTx, silenceId: number): Promise<number> {
  const [row] = await db.select({ n: count() }).from(alerts).where(eq(alerts.silenceId, silenceId));
  return row?.n ?? 0;
}

/** One page of the events a silence held back, oldest first (the order they would have been posted in). */
export async function heldBackEvents(
  db: DbOrTx,
  silenceId: number,
  page: { limit: number; offset: number },
): Promise<StoredEvent[]> {
  const rows = await db
    .select({ event: events })
    .from(alerts)
    .innerJoin(events, and(eq(events.workspaceId, alerts.workspaceId), eq(events.id, alerts.eventId)))
    .where(eq(alerts.silenceId, silenceId))
    .orderBy(asc(events.seq))
    .limit(page.limit)
    .offset(page.offset);
  return rows.map((row) => rowToEvent(row.event));
}
