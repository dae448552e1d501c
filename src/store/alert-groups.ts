/**
 * Grouped alerts (schema/alert-groups.ts): joining or opening a group, collapsing a storm, what the grouped message
 * shows, and the bookkeeping of a group's Revert all runs.
 */
import { and, asc, eq, inArray, lte, sql } from 'drizzle-orm';
import { DISPATCH_CHANNEL, notifyDispatch } from './alert-queue.ts';
import type { AlertKey } from './alerts.ts';
import type { DbOrTx } from './db.ts';
import {
  type AlertGroupRow,
  alertGroupMembers,
  alertGroups,
  alertQueue,
  alerts,
  type SilenceRow,
  silences,
} from './schema/index.ts';
import { storableText } from './storable.ts';

/** A group takes at most this many events; the next match opens a new group (and a new message). */
export const MAX_GROUP_EVENTS = 1000;

export type GroupKind = 'rule' | 'storm';

/** A matched alert that may join a group, and the group it would join or open. */
export interface GroupCandidate extends AlertKey {
  channel: string;
  severity: string;
  priority: number;
  kind: GroupKind;
  groupBy: string | null;
  groupValue: string | null;
  groupKey: string;
  withinMs: number;
  seq: number;
  receivedAt: string;
  /** For a group opened with `queue`: its first alert's post attempts so far (1 when it may be in the channel). */
  attempts?: number;
}

/** What became of a candidate; `closed` names a group this call closed (full or past its window), for the metrics. */
export type GroupOutcome =
  | { kind: 'member'; groupId: number }
  | { kind: 'joined'; groupId: number; channel: string; count: number; groupKind: GroupKind; closed?: ClosedGroup }
  | { kind: 'opened'; groupId: number; closed?: ClosedGroup }
  | { kind: 'none'; closed?: ClosedGroup };

export interface ClosedGroup {
  id: number;
  count: number;
  kind: GroupKind;
}

/**
 * How a new group gets its message: `queue` adds the candidate to the alert queue as the group's first alert, `convert`
 * turns the candidate's own queued row into it (storm protection), `never` only joins an open group.
 */
export type OpenMode = 'queue' | 'convert' | 'never';

/**
 * Puts the candidate in the open group of its rule and key, or opens one (per `open`). Run in a transaction: the open
 * group's row lock orders joins, so counts and ordinals never collide, and the candidate's alert row says `grouped`
 * in the same commit, so the alert is never also posted alone.
 */
export async function joinOrOpenGroup(tx: DbOrTx, candidate: GroupCandidate, open: OpenMode): Promise<GroupOutcome> {
  const { workspaceId, eventId, ruleId } = candidate;
  let closed: ClosedGroup | undefined;
  // A second pass only when another worker opened the group between this one's look and its insert.
  for (let pass = 0; pass < 3; pass++) {
    // Whether the alert is in a group already (a re-delivered event), and the open group locked, in one round trip.
    const [found] = await tx.execute<{
      member: string | null;
      id: string | null;
      count: number | null;
      joinable: boolean | null;
      kind: GroupKind | null;
    }>(sql`
      with member as (
        select group_id from alert_group_members
        where workspace_id = ${workspaceId} and event_id = ${eventId} and rule_id = ${ruleId}
      ), open_group as (
        select id, count, kind, (count < ${MAX_GROUP_EVENTS} and ${candidate.receivedAt}::timestamptz <= closes_at)
               as joinable
        from alert_groups where rule_id = ${ruleId} and group_key = ${candidate.groupKey} and status = 'open'
        for update
      )
      select (select group_id from member) as member, g.id, g.count, g.kind, g.joinable
      from (select 1) as one left join open_group as g on true`);
    if (found?.member) return { kind: 'member', groupId: Number(found.member) };
    const group = found?.id
      ? { id: found.id, count: found.count!, kind: found.kind!, joinable: found.joinable }
      : undefined;
    if (group?.joinable) return { ...(await join(tx, Number(group.id), candidate, open)), ...(closed && { closed }) };
    if (group) {
      await tx
        .update(alertGroups)
        .set({ status: 'closed' })
        .where(eq(alertGroups.id, Number(group.id)));
      closed = { id: Number(group.id), count: group.count, kind: group.kind };
    }
    if (open === 'never') return { kind: 'none', ...(closed && { closed }) };
    const [opened] = await tx.execute<{ id: string }>(sql`
      insert into alert_groups (workspace_id, rule_id, channel, severity, kind, group_by, group_value, group_key,
                                within_ms, count, first_received_at, last_received_at, closes_at, head_event_id)
      values (${workspaceId}, ${ruleId}, ${candidate.channel}, ${candidate.severity}, ${candidate.kind},
              ${candidate.groupBy}, ${candidate.groupValue}, ${candidate.groupKey}, ${candidate.withinMs}, 1,
              ${candidate.receivedAt}::timestamptz, ${candidate.receivedAt}::timestamptz,
              ${candidate.receivedAt}::timestamptz + ${candidate.withinMs} * interval '1 millisecond', ${eventId})
      on conflict (rule_id, group_key) where status = 'open' do nothing
      returning id`);
    if (!opened) continue;
    const groupId = Number(opened.id);
    await tx
      .insert(alertGroupMembers)
      .values({ workspaceId, eventId, ruleId, groupId, ordinal: 1, seq: candidate.seq });
    if (open === 'queue') {
      await tx
        .insert(alertQueue)
        .values({
          workspaceId,
          eventId,
          ruleId,
          channel: candidate.channel,
          priority: candidate.priority,
          receivedAt: new Date(candidate.receivedAt),
          seq: candidate.seq,
          groupId,
          attempts: candidate.attempts ?? 0,
        })
        .onConflictDoUpdate({
          target: [alertQueue.workspaceId, alertQueue.eventId, alertQueue.ruleId],
          set: { groupId },
        });
    } else {
      await tx.update(alertQueue).set({ groupId }).where(queueKey(candidate));
    }
    return { kind: 'opened', groupId, ...(closed && { closed }) };
  }
  throw new Error(`could not join or open the group of rule ${ruleId} (${candidate.groupKey}): it kept changing`);
}

async function join(
  tx: DbOrTx,
  groupId: number,
  candidate: GroupCandidate,
  open: OpenMode,
): Promise<Extract<GroupOutcome, { kind: 'joined' }>> {
  const { workspaceId, eventId, ruleId } = candidate;
  // One statement while the group's row is locked: every worker joining this group waits for it, so it must be short.
  const [updated] = await tx.execute<{ count: number; channel: string; kind: GroupKind }>(sql`
    with grown as (
      update alert_groups
      set ${growBy(candidate.receivedAt)}
      where id = ${groupId}
      returning count, channel, kind
    ), member as (
      insert into alert_group_members (workspace_id, event_id, rule_id, group_id, ordinal, seq)
      select ${workspaceId}, ${eventId}, ${ruleId}, ${groupId}, count, ${candidate.seq} from grown
    ), marked as (
      update alerts set status = 'grouped', error = null
      where workspace_id = ${workspaceId} and event_id = ${eventId} and rule_id = ${ruleId}
    ), unqueued as (
      delete from alert_queue
      where ${open === 'convert'} and workspace_id = ${workspaceId} and event_id = ${eventId} and rule_id = ${ruleId}
    )
    select count, channel, kind from grown`);
  const count = updated!.count;
  return {
    kind: 'joined',
    groupId,
    channel: updated!.channel,
    count,
    groupKind: updated!.kind,
    ...(count >= MAX_GROUP_EVENTS && { closed: { id: groupId, count, kind: updated!.kind } }),
  };
}

/**
 * The common case in one statement, outside any transaction: the candidate joins the open group of its key when it
 * may (the group is not full and its window has not passed) and it is in no group yet. The UPDATE holds the group's
 * row lock only while this statement runs, so workers joining one busy group wait for each other for microseconds, not
 * for a transaction's round trips; the updater is notified at commit. Undefined when it did not join (no such group,
 * or one that must close first, or a re-delivered alert already in a group): joinOrOpenGroup decides then. Two jobs of
 * the same alert racing here both pass the membership check, and the second one's member insert fails on the key and
 * is retried: counts stay exact.
 *
 * `alone`: when it does not join, the same statement queues it to post alone (storm protection's common case: a rule
 * without `group` whose actor has no open storm group), unless it is in a group already.
 */
export async function tryJoinOpenGroup(
  db: DbOrTx,
  candidate: GroupCandidate,
  open: OpenMode,
  alone?: { priority: number; attempts: number },
): Promise<Extract<GroupOutcome, { kind: 'joined' }> | undefined> {
  const { workspaceId, eventId, ruleId } = candidate;
  const isAlert = sql`workspace_id = ${workspaceId} and event_id = ${eventId} and rule_id = ${ruleId}`;
  const queued = alone
    ? sql`, queued as (
        insert into alert_queue (workspace_id, event_id, rule_id, channel, priority, received_at, seq, attempts)
        select ${workspaceId}, ${eventId}, ${ruleId}, ${candidate.channel}, ${alone.priority},
               ${candidate.receivedAt}::timestamptz, ${candidate.seq}, ${alone.attempts}
        where not exists (select 1 from grown) and not exists (select 1 from alert_group_members where ${isAlert})
        on conflict do nothing
      )`
    : sql``;
  const [joined] = await db.execute<{ id: string | null; count: number; channel: string; kind: GroupKind }>(sql`
    with grown as (
      update alert_groups
      set ${growBy(candidate.receivedAt)}
      where rule_id = ${ruleId} and group_key = ${candidate.groupKey} and status = 'open'
        and count < ${MAX_GROUP_EVENTS} and ${candidate.receivedAt}::timestamptz <= closes_at
        and not exists (select 1 from alert_group_members where ${isAlert})
      returning id, count, channel, kind
    ), member as (
      insert into alert_group_members (workspace_id, event_id, rule_id, group_id, ordinal, seq)
      select ${workspaceId}, ${eventId}, ${ruleId}, id, count, ${candidate.seq} from grown
    ), marked as (
      update alerts set status = 'grouped', error = null where ${isAlert} and exists (select 1 from grown)
    ), unqueued as (
      delete from alert_queue where ${open === 'convert'} and ${isAlert} and exists (select 1 from grown)
    )${queued}
    select g.id, g.count, g.channel, g.kind,
           pg_notify(${DISPATCH_CHANNEL}, case when g.id is null then ${`p:${candidate.channel}`} else 'u' end)
    from (select 1) as one left join grown as g on true
    ${alone ? sql`` : sql`where g.id is not null`}`);
  if (!joined?.id) return undefined;
  const groupId = Number(joined.id);
  const { count } = joined;
  return {
    kind: 'joined',
    groupId,
    channel: joined.channel,
    count,
    groupKind: joined.kind,
    ...(count >= MAX_GROUP_EVENTS && { closed: { id: groupId, count, kind: joined.kind } }),
  };
}

/**
 * The SET list that adds one event received at `receivedAt` to a group: its count and latest time, a window that
 * extends `within` past this event, a new version for the message to catch up with, closed at MAX_GROUP_EVENTS.
 */
const growBy = (receivedAt: string) => sql`count = count + 1,
  last_received_at = greatest(last_received_at, ${receivedAt}::timestamptz),
  closes_at = greatest(closes_at, ${receivedAt}::timestamptz + within_ms * interval '1 millisecond'),
  version = version + 1,
  status = case when count + 1 >= ${MAX_GROUP_EVENTS} then 'closed' else status end`;

const queueKey = (key: AlertKey) =>
  and(
    eq(alertQueue.workspaceId, key.workspaceId),
    eq(alertQueue.eventId, key.eventId),
    eq(alertQueue.ruleId, key.ruleId),
  );

/** The alerts of a rule waiting alone for a channel, never tried, with their actors: what a storm collapses. */
export async function waitingAlone(db: DbOrTx, channel: string, ruleId: string) {
  const rows = await db.execute<{
    workspace_id: string;
    event_id: string;
    seq: string;
    received_at: string;
    actor_id: string;
  }>(sql`
    select q.workspace_id, q.event_id, q.seq, q.received_at, e.actor_id
    from alert_queue q join events e on e.workspace_id = q.workspace_id and e.id = q.event_id
    where q.channel = ${channel} and q.rule_id = ${ruleId} and q.group_id is null and q.attempts = 0
    order by q.priority, q.received_at, q.seq`);
  return rows.map((row) => ({
    workspaceId: row.workspace_id,
    eventId: row.event_id,
    seq: Number(row.seq),
    receivedAt: new Date(row.received_at).toISOString(),
    actorId: row.actor_id,
  }));
}

export async function getGroup(db: DbOrTx, groupId: number): Promise<AlertGroupRow | undefined> {
  const [row] = await db.select().from(alertGroups).where(eq(alertGroups.id, groupId));
  return row;
}

/** Records the group's message once Slack accepted it, and which version of the group it shows. */
export async function recordGroupPosted(
  db: DbOrTx,
  groupId: number,
  posted: { channelId: string; ts: string },
  shownVersion: number,
): Promise<void> {
  await db
    .update(alertGroups)
    .set({ channelId: posted.channelId, ts: posted.ts, shownVersion })
    .where(eq(alertGroups.id, groupId));
}

/** A posted group whose message is behind its state, if any is due: the most urgent first, then the oldest. */
export async function nextStaleGroup(db: DbOrTx): Promise<AlertGroupRow | undefined> {
  const [row] = await db
    .select()
    .from(alertGroups)
    .where(
      and(
        sql`${alertGroups.version} > ${alertGroups.shownVersion}`,
        sql`${alertGroups.ts} is not null`,
        lte(alertGroups.updateNotBefore, sql`now()`),
      ),
    )
    .orderBy(
      sql`case ${alertGroups.severity} when 'critical' then 0 when 'warning' then 1 else 2 end`,
      asc(alertGroups.id),
    )
    .limit(1);
  return row;
}

/** The message now shows `version` (a later change keeps it stale). */
export async function recordGroupShown(db: DbOrTx, groupId: number, version: number): Promise<void> {
  await db
    .update(alertGroups)
    .set({ shownVersion: sql`greatest(${alertGroups.shownVersion}, ${version})`, updateError: null })
    .where(eq(alertGroups.id, groupId));
}

export async function retryGroupUpdateLater(
  db: DbOrTx,
  groupId: number,
  delayMs: number,
  error: string,
): Promise<void> {
  await db
    .update(alertGroups)
    .set({ updateNotBefore: sql`now() + ${Math.round(delayMs)} * interval '1 millisecond'`, updateError: error })
    .where(eq(alertGroups.id, groupId));
}

/**
 * Closes open groups whose window ended more than `graceMs` ago (a match received inside the window may still be on its
 * way through a busy worker); answers them, for the metrics.
 */
export async function closeExpiredGroups(db: DbOrTx, graceMs: number): Promise<ClosedGroup[]> {
  const rows = await db
    .update(alertGroups)
    .set({ status: 'closed' })
    .where(
      and(
        eq(alertGroups.status, 'open'),
        lte(alertGroups.closesAt, sql`now() - ${Math.round(graceMs)} * interval '1 millisecond'`),
      ),
    )
    .returning({ id: alertGroups.id, count: alertGroups.count, kind: alertGroups.kind });
  return rows.map((row) => ({ ...row, kind: row.kind as GroupKind }));
}

/**
 * After a single revert of an event that belongs to a group of several, that group's message is behind: it counts
 * reverted events. Notifies the dispatchers at commit.
 */
export async function touchGroupsOf(db: DbOrTx, key: { workspaceId: string; eventId: string }): Promise<void> {
  const touched = await db.execute<{ id: string }>(sql`
    update alert_groups set version = version + 1
    where count > 1 and id in (select group_id from alert_group_members
                               where workspace_id = ${key.workspaceId} and event_id = ${key.eventId})
    returning id`);
  if (touched.length > 0) await notifyDispatch(db, undefined);
}

/**
 * After an owner acknowledged or silenced an alert from its message, the group that alert heads (whose message it is)
 * is behind when it holds more than one event: the next redraw shows the new status line. Notifies the dispatchers at
 * commit.
 */
export async function touchGroupHeadedBy(db: DbOrTx, key: AlertKey): Promise<void> {
  const touched = await db.execute<{ id: string }>(sql`
    update alert_groups set version = version + 1
    where count > 1 and head_event_id = ${key.eventId} and id = (
      select group_id from alert_group_members
      where workspace_id = ${key.workspaceId} and event_id = ${key.eventId} and rule_id = ${key.ruleId})
    returning id`);
  if (touched.length > 0) await notifyDispatch(db, undefined);
}

/** What the grouped message shows beyond the group row: times, actors, resources, types and the revert state. */
export interface GroupSummary {
  group: AlertGroupRow;
  firstAt: string;
  latestAt: string;
  actorCount: number;
  /** The first few actors, in order of their first event. */
  actors: { type: string; id: string; name: string | null; email: string | null }[];
  resourceCount: number;
  /** The first 10 resources, in order of their first event. */
  resources: { type: string; id: string; name: string | null }[];
  /** Every event type in the group, with its count, in order of its first event. */
  types: { type: string; count: number }[];
  /** Events of the group reverted (by any click or run). */
  reverted: number;
  /** Events some Revert all run has covered already (reverted, skipped or failed). */
  covered: number;
  /** The current run's outcomes by kind (started, reverted, already_reverted, not_revertible, failed). */
  run: Record<string, number>;
  /** Events whose last run failed to revert them (whichever run that was): what Retry failed covers. */
  failed: number;
  /** The first of those, with why. */
  failures: {
    eventId: string;
    resourceType: string;
    resourceId: string;
    resourceName: string | null;
    reason: string;
  }[];
  /** Who acknowledged the message, and when: from its first alert's row, so a single alert's carries over. */
  acknowledged?: { by: string; at: Date };
  /** Who silenced from the message, for how long (`8h`), and that silence as it is now; from the same row. */
  silenced?: { by: string; duration: string; silence: SilenceRow };
}

export const SHOWN_RESOURCES = 10;
export const SHOWN_ACTORS = 3;
export const SHOWN_FAILURES = 10;

export async function groupSummary(db: DbOrTx, groupId: number): Promise<GroupSummary | undefined> {
  const group = await getGroup(db, groupId);
  if (!group) return undefined;
  const members = sql`alert_group_members m join events e on e.workspace_id = m.workspace_id and e.id = m.event_id`;
  const [times] = await db.execute<{
    first_at: string | null;
    latest_at: string | null;
    actors: string;
    resources: string;
  }>(sql`
    select min(e.timestamp) as first_at, max(e.timestamp) as latest_at, count(distinct e.actor_id) as actors,
           count(distinct (e.resource_type, e.resource_id)) as resources
    from ${members} where m.group_id = ${groupId}`);
  const actors = await db.execute<{
    actor_type: string;
    actor_id: string;
    actor_name: string | null;
    actor_email: string | null;
  }>(sql`
    select max(e.actor_type) as actor_type, e.actor_id, max(e.actor_name) as actor_name,
           max(e.actor_email) as actor_email
    from ${members} where m.group_id = ${groupId}
    group by e.actor_id order by min(m.seq) limit ${SHOWN_ACTORS}`);
  const resources = await db.execute<{ resource_type: string; resource_id: string; resource_name: string | null }>(sql`
    select e.resource_type, e.resource_id, max(e.resource_name) as resource_name
    from ${members} where m.group_id = ${groupId}
    group by e.resource_type, e.resource_id order by min(m.seq) limit ${SHOWN_RESOURCES}`);
  const types = await db.execute<{ type: string; count: string }>(sql`
    select e.type, count(*) as count from ${members} where m.group_id = ${groupId}
    group by e.type order by min(m.seq)`);
  const [reverted] = await db.execute<{ count: string }>(sql`
    select count(*) as count from alert_group_members m
    join reverts r on r.workspace_id = m.workspace_id and r.event_id = m.event_id and r.status = 'done'
    where m.group_id = ${groupId}`);
  const [covered] = await db.execute<{ count: string }>(sql`
    select count(*) as count from alert_group_members where group_id = ${groupId} and revert_run > 0`);
  const run: Record<string, number> = {};
  let failures: GroupSummary['failures'] = [];
  let failedNow = 0;
  if (group.revertRun > 0) {
    const outcomes = await db.execute<{ outcome: string; count: string }>(sql`
      select revert_outcome as outcome, count(*) as count from alert_group_members
      where group_id = ${groupId} and revert_run = ${group.revertRun} and revert_outcome is not null
      group by revert_outcome`);
    for (const row of outcomes) run[row.outcome] = Number(row.count);
    const failed = await db.execute<{
      event_id: string;
      resource_type: string | null;
      resource_id: string | null;
      resource_name: string | null;
      revert_reason: string | null;
    }>(sql`
      select m.event_id, e.resource_type, e.resource_id, e.resource_name, m.revert_reason
      from alert_group_members m left join events e on e.workspace_id = m.workspace_id and e.id = m.event_id
      where m.group_id = ${groupId} and m.revert_outcome = 'failed'
      order by m.seq limit ${SHOWN_FAILURES}`);
    const [failedCount] = await db.execute<{ count: string }>(sql`
      select count(*) as count from alert_group_members where group_id = ${groupId} and revert_outcome = 'failed'`);
    failedNow = Number(failedCount?.count ?? 0);
    failures = failed.map((row) => ({
      eventId: row.event_id,
      resourceType: row.resource_type ?? '?',
      resourceId: row.resource_id ?? row.event_id,
      resourceName: row.resource_name,
      reason: row.revert_reason ?? 'unknown',
    }));
  }
  const statuses = await messageStatuses(db, group);
  const iso = (value: string | null | undefined) => new Date(value ?? group.firstReceivedAt).toISOString();
  return {
    ...statuses,
    group,
    firstAt: iso(times?.first_at),
    latestAt: iso(times?.latest_at),
    actorCount: Number(times?.actors ?? 0),
    actors: actors.map((row) => ({
      type: row.actor_type,
      id: row.actor_id,
      name: row.actor_name,
      email: row.actor_email,
    })),
    resourceCount: Number(times?.resources ?? 0),
    resources: resources.map((row) => ({ type: row.resource_type, id: row.resource_id, name: row.resource_name })),
    types: types.map((row) => ({ type: row.type, count: Number(row.count) })),
    reverted: Number(reverted?.count ?? 0),
    covered: Number(covered?.count ?? 0),
    failed: failedNow,
    run,
    failures,
  };
}

/**
 * What owners did on the message (Acknowledge, Silence…), kept on the row of the alert that heads the group: the
 * message was that alert's before it was the group's, and a status line set on it then or since stays.
 */
async function messageStatuses(
  db: DbOrTx,
  group: AlertGroupRow,
): Promise<Pick<GroupSummary, 'acknowledged' | 'silenced'>> {
  const [head] = await db
    .select({
      acknowledgedBy: alerts.acknowledgedBy,
      acknowledgedAt: alerts.acknowledgedAt,
      silencedBy: alerts.silencedBy,
      silencedFor: alerts.silencedFor,
      silence: silences,
    })
    .from(alerts)
    .leftJoin(silences, eq(silences.id, alerts.silencedWith))
    .where(
      and(
        eq(alerts.workspaceId, group.workspaceId),
        eq(alerts.eventId, group.headEventId),
        eq(alerts.ruleId, group.ruleId),
      ),
    );
  if (!head) return {};
  const { acknowledgedBy, acknowledgedAt, silencedBy, silencedFor, silence } = head;
  return {
    ...(acknowledgedBy && acknowledgedAt && { acknowledged: { by: acknowledgedBy, at: acknowledgedAt } }),
    ...(silencedBy && silencedFor && silence && { silenced: { by: silencedBy, duration: silencedFor, silence } }),
  };
}

/** One page of a group's events in event order (Show all), or of its current run's failures. */
export async function groupMembersPage(
  db: DbOrTx,
  groupId: number,
  options: { offset: number; limit: number; failedOnly: boolean },
): Promise<{ eventId: string; workspaceId: string; reason: string | null }[]> {
  const rows = await db
    .select({
      eventId: alertGroupMembers.eventId,
      workspaceId: alertGroupMembers.workspaceId,
      reason: alertGroupMembers.revertReason,
    })
    .from(alertGroupMembers)
    .where(
      and(
        eq(alertGroupMembers.groupId, groupId),
        options.failedOnly ? eq(alertGroupMembers.revertOutcome, 'failed') : undefined,
      ),
    )
    .orderBy(asc(alertGroupMembers.seq))
    .offset(options.offset)
    .limit(options.limit);
  return rows;
}

// ---- Revert all ------------------------------------------------------------------------------------------------

export type RevertScope = 'all' | 'failed';

export type RunClaim =
  | { claimed: true; run: number; total: number; channel: string }
  | { claimed: false; group: AlertGroupRow | undefined };

/**
 * Starts a Revert all run of the group, unless one is queued or running: two clicks at once make one run. `all` covers
 * the events that joined up to `upTo` (the count the confirm named); `failed` the events the last run could not
 * revert. Commits the run's events with the claim, so the job (and a resumed one) covers exactly these.
 */
export async function claimRevertRun(
  db: DbOrTx,
  request: { workspaceId: string; groupId: number; userId: string; scope: RevertScope; upTo: number },
): Promise<RunClaim> {
  const [claimed] = await db
    .update(alertGroups)
    .set({
      revertRun: sql`${alertGroups.revertRun} + 1`,
      revertState: 'queued',
      revertScope: request.scope,
      revertBy: storableText(request.userId),
      revertTotal: 0,
      revertStartedAt: sql`now()`,
      revertFinishedAt: null,
      revertHolder: null,
      revertLeaseUntil: null,
      version: sql`${alertGroups.version} + 1`,
    })
    .where(
      and(
        eq(alertGroups.id, request.groupId),
        eq(alertGroups.workspaceId, request.workspaceId),
        sql`(${alertGroups.revertState} is null or ${alertGroups.revertState} = 'done')`,
      ),
    )
    .returning({ run: alertGroups.revertRun, channel: alertGroups.channel });
  if (!claimed) return { claimed: false, group: await getGroup(db, request.groupId) };
  const { run } = claimed;
  const covered = await db
    .update(alertGroupMembers)
    .set({ revertRun: run, revertOutcome: null, revertReason: null })
    .where(
      and(
        eq(alertGroupMembers.groupId, request.groupId),
        // A later Revert all covers only events no run has covered (those that joined since); failures have Retry.
        request.scope === 'all'
          ? and(lte(alertGroupMembers.ordinal, request.upTo), eq(alertGroupMembers.revertRun, 0))
          : eq(alertGroupMembers.revertOutcome, 'failed'),
      ),
    )
    .returning({ eventId: alertGroupMembers.eventId });
  await db.update(alertGroups).set({ revertTotal: covered.length }).where(eq(alertGroups.id, request.groupId));
  await notifyDispatch(db, undefined);
  return { claimed: true, run, total: covered.length, channel: claimed.channel };
}

export type RunStart =
  | { kind: 'begun'; group: AlertGroupRow }
  /** Another attempt holds the run (a live worker, or a dead one whose lease has not lapsed yet). */
  | { kind: 'held'; until: Date }
  /** The run ended, or the group moved on to another run: a stale or repeated job. */
  | { kind: 'ended' };

/**
 * Marks the run running and leases it to `holder` for `leaseMs`, unless another attempt holds a live lease on it. One
 * attempt at a time: a second copy of the job reverting alongside would take over the first's claims as a dead run's.
 */
export async function beginRevertRun(
  db: DbOrTx,
  groupId: number,
  run: number,
  holder: string,
  leaseMs: number,
): Promise<RunStart> {
  const [row] = await db
    .update(alertGroups)
    .set({
      revertState: 'running',
      revertHolder: holder,
      revertLeaseUntil: leaseEnd(leaseMs),
      version: sql`${alertGroups.version} + 1`,
    })
    .where(
      and(
        eq(alertGroups.id, groupId),
        eq(alertGroups.revertRun, run),
        inArray(alertGroups.revertState, ['queued', 'running']),
        sql`(${alertGroups.revertLeaseUntil} is null or ${alertGroups.revertLeaseUntil} <= now())`,
      ),
    )
    .returning();
  if (row) return { kind: 'begun', group: row };
  const group = await getGroup(db, groupId);
  const unfinished = group?.revertRun === run && ['queued', 'running'].includes(group.revertState ?? '');
  return unfinished && group.revertLeaseUntil ? { kind: 'held', until: group.revertLeaseUntil } : { kind: 'ended' };
}

/** Extends the holder's lease on its run; false when it no longer holds it (it lapsed and another attempt took it). */
export async function renewRevertRunLease(
  db: DbOrTx,
  holding: { groupId: number; run: number; holder: string },
  leaseMs: number,
): Promise<boolean> {
  const renewed = await db
    .update(alertGroups)
    .set({ revertLeaseUntil: leaseEnd(leaseMs) })
    .where(and(holds(holding), eq(alertGroups.revertState, 'running')))
    .returning({ id: alertGroups.id });
  return renewed.length > 0;
}

/** The runs Postgres has as queued or running: each should have a job in Redis. */
export async function unfinishedRevertRuns(
  db: DbOrTx,
): Promise<{ workspaceId: string; groupId: number; run: number }[]> {
  return db
    .select({ workspaceId: alertGroups.workspaceId, groupId: alertGroups.id, run: alertGroups.revertRun })
    .from(alertGroups)
    .where(inArray(alertGroups.revertState, ['queued', 'running']))
    .orderBy(asc(alertGroups.id));
}

const leaseEnd = (leaseMs: number) => sql`now() + ${Math.round(leaseMs)} * interval '1 millisecond'`;

const holds = (holding: { groupId: number; run: number; holder: string }) =>
  and(
    eq(alertGroups.id, holding.groupId),
    eq(alertGroups.revertRun, holding.run),
    eq(alertGroups.revertHolder, holding.holder),
  );

/** The run's events not finished yet, in the order they joined; `started` ones were in flight when a worker died. */
export async function revertRunTargets(db: DbOrTx, groupId: number, run: number) {
  return db
    .select({
      workspaceId: alertGroupMembers.workspaceId,
      eventId: alertGroupMembers.eventId,
      ruleId: alertGroupMembers.ruleId,
      outcome: alertGroupMembers.revertOutcome,
    })
    .from(alertGroupMembers)
    .where(
      and(
        eq(alertGroupMembers.groupId, groupId),
        eq(alertGroupMembers.revertRun, run),
        sql`(${alertGroupMembers.revertOutcome} is null or ${alertGroupMembers.revertOutcome} = 'started')`,
      ),
    )
    .orderBy(asc(alertGroupMembers.ordinal));
}

export type MemberOutcome = 'started' | 'reverted' | 'already_reverted' | 'not_revertible' | 'failed';

/**
 * Records what became of one event in the run, and marks the message behind (its progress line changed); only while
 * `holder` holds the run, so an attempt that lost it records nothing over its successor. False when it did not.
 */
export async function recordRevertOutcome(
  db: DbOrTx,
  member: AlertKey & { groupId: number; run: number; holder: string },
  outcome: MemberOutcome,
  reason?: string,
): Promise<boolean> {
  const recorded = await db
    .update(alertGroupMembers)
    .set({ revertOutcome: outcome, revertReason: reason === undefined ? null : storableText(reason) })
    .where(
      and(
        eq(alertGroupMembers.workspaceId, member.workspaceId),
        eq(alertGroupMembers.eventId, member.eventId),
        eq(alertGroupMembers.ruleId, member.ruleId),
        eq(alertGroupMembers.revertRun, member.run),
        sql`exists (select 1 from ${alertGroups} where ${holds(member)})`,
      ),
    )
    .returning({ eventId: alertGroupMembers.eventId });
  if (recorded.length === 0) return false;
  if (outcome === 'started') return true;
  await db
    .update(alertGroups)
    .set({ version: sql`${alertGroups.version} + 1` })
    .where(eq(alertGroups.id, member.groupId));
  await notifyDispatch(db, undefined);
  return true;
}

/** Ends the run; answers its outcome counts, or undefined when `holder` no longer held it (ended, or taken over). */
export async function finishRevertRun(
  db: DbOrTx,
  holding: { groupId: number; run: number; holder: string },
): Promise<Record<string, number> | undefined> {
  const { groupId, run } = holding;
  const [row] = await db
    .update(alertGroups)
    .set({
      revertState: 'done',
      revertFinishedAt: sql`now()`,
      revertLeaseUntil: null,
      version: sql`${alertGroups.version} + 1`,
    })
    .where(and(holds(holding), eq(alertGroups.revertState, 'running')))
    .returning({ id: alertGroups.id });
  if (!row) return undefined;
  await notifyDispatch(db, undefined);
  const outcomes = await db
    .select({ outcome: alertGroupMembers.revertOutcome, count: sql<number>`count(*)::int` })
    .from(alertGroupMembers)
    .where(and(eq(alertGroupMembers.groupId, groupId), eq(alertGroupMembers.revertRun, run)))
    .groupBy(alertGroupMembers.revertOutcome);
  return Object.fromEntries(outcomes.map((o) => [o.outcome ?? 'none', o.count]));
}
