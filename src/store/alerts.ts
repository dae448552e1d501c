/** The alert records: claimed before a post, marked after it, acknowledged from Slack, listed on the App Home. */
import { and, desc, eq, isNotNull, sql } from 'drizzle-orm';
import type { Actor, StoredEvent } from '../events.ts';
import { touchGroupHeadedBy } from './alert-groups.ts';
import { appendEvents } from './append.ts';
import type { Db, DbOrTx } from './db.ts';
import { notifyHomeChanged } from './home-changes.ts';
import { rowToEvent } from './rows.ts';
import { type AlertRow, alertGroupMembers, alertGroups, alerts, events, reverts } from './schema/index.ts';

export interface AlertKey {
  workspaceId: string;
  eventId: string;
  ruleId: string;
}

/** How long a claim on an alert lasts: a worker that died holding one delays that alert this long. */
export const ALERT_LEASE_MS = 30_000;

/** Another worker holds a live claim on the alert: the job should try again later, when it is posted or given up. */
export class AlertClaimedElsewhere extends Error {
  constructor(readonly leaseUntil: Date) {
    super(`another worker is posting this alert (claim held until ${leaseUntil.toISOString()})`);
    this.name = 'AlertClaimedElsewhere';
  }
}

/**
 * The alert row for (event, rule), created as pending if new and claimed for `leaseMs`; `fresh` is false when an
 * earlier attempt got this far, which means a message may already be in the channel. Each claim counts an attempt.
 * A row no longer pending comes back unclaimed (there is nothing left to do); one pending under another worker's live
 * claim throws AlertClaimedElsewhere.
 */
export async function claimAlert(
  db: DbOrTx,
  key: AlertKey & { channel: string },
  leaseMs = ALERT_LEASE_MS,
): Promise<{ row: AlertRow; fresh: boolean }> {
  const leaseUntil = sql`now() + ${leaseMs} * interval '1 millisecond'`;
  const [claimed] = await db
    .insert(alerts)
    .values({ ...key, attempts: 1, leaseUntil })
    .onConflictDoUpdate({
      target: [alerts.workspaceId, alerts.eventId, alerts.ruleId],
      set: { attempts: sql`${alerts.attempts} + 1`, leaseUntil },
      setWhere: sql`${alerts.status} = 'pending' and (${alerts.leaseUntil} is null or ${alerts.leaseUntil} <= now())`,
    })
    .returning();
  if (claimed) return { row: claimed, fresh: claimed.attempts === 1 };
  const row = await getAlert(db, key);
  if (!row) throw new Error('alert row vanished while being claimed');
  if (row.status !== 'pending') return { row, fresh: false };
  throw new AlertClaimedElsewhere(row.leaseUntil ?? new Date());
}

const whereKey = (key: AlertKey) =>
  and(eq(alerts.workspaceId, key.workspaceId), eq(alerts.eventId, key.eventId), eq(alerts.ruleId, key.ruleId));

export async function markAlertSent(db: DbOrTx, key: AlertKey, sent: { channelId: string; ts: string }): Promise<void> {
  await db
    .update(alerts)
    .set({ status: 'sent', channelId: sent.channelId, ts: sent.ts, sentAt: new Date(), error: null })
    .where(whereKey(key));
  await notifyHomeChanged(db, key.workspaceId);
}

export async function markAlertFailed(db: DbOrTx, key: AlertKey, error: string): Promise<void> {
  await db.update(alerts).set({ status: 'failed', error }).where(whereKey(key));
}

export async function markAlertLogged(db: DbOrTx, key: AlertKey): Promise<void> {
  await db.update(alerts).set({ status: 'logged', sentAt: new Date() }).where(whereKey(key));
}

/** A failure worth retrying; the claim is given up so that the retry need not wait for it to lapse. */
export async function recordAlertError(db: DbOrTx, key: AlertKey, error: string): Promise<void> {
  await db.update(alerts).set({ error, leaseUntil: null }).where(whereKey(key));
}

/** A channel ID learnt from an earlier post to the same channel name, if any. */
export async function knownChannelId(db: DbOrTx, channel: string): Promise<string | undefined> {
  const [row] = await db
    .select({ channelId: alerts.channelId })
    .from(alerts)
    .where(and(eq(alerts.channel, channel), isNotNull(alerts.channelId)))
    .orderBy(desc(alerts.createdAt))
    .limit(1);
  return row?.channelId ?? undefined;
}

export function getAlert(db: DbOrTx, key: AlertKey) {
  return db
    .select()
    .from(alerts)
    .where(whereKey(key))
    .then((rows) => rows[0]);
}

/** The alert a Slack message shows, found by the message's channel and ts (what a click on it names). */
export async function alertByMessage(
  db: DbOrTx,
  message: { channelId: string; ts: string },
): Promise<AlertRow | undefined> {
  const [row] = await db
    .select()
    .from(alerts)
    .where(and(eq(alerts.channelId, message.channelId), eq(alerts.ts, message.ts)))
    .orderBy(alerts.createdAt)
    .limit(1);
  return row;
}

/** Audit event type of an acknowledgement: outside the catalog, so category Other. */
export const ALERT_ACKNOWLEDGED_TYPE = 'Alert Acknowledged';

export type Acknowledgement =
  | { status: 'acknowledged'; at: Date; eventId: string }
  | { status: 'already_acknowledged'; by: string; at: Date }
  | { status: 'not_found' };

/**
 * Marks the alert acknowledged by a Slack user, once however many clicks; the `Alert Acknowledged` audit event (on
 * the alerted event's resource, so that resource's trail shows it) commits with the mark. From a grouped message, `key`
 * is the group's first alert (whose row speaks for the message) and the event is on the rule, as the group spans
 * resources. A group the alert heads is redrawn with the status line.
 */
export async function acknowledgeAlert(
  db: Db,
  key: AlertKey,
  request: {
    actor: Actor & { type: 'user' };
    context?: Record<string, unknown>;
    group?: { id: number; count: number };
  },
): Promise<Acknowledgement> {
  return db.transaction(async (tx) => {
    const [row] = await tx.select().from(alerts).where(whereKey(key)).for('update');
    if (!row) return { status: 'not_found' };
    if (row.acknowledgedBy && row.acknowledgedAt) {
      return { status: 'already_acknowledged', by: row.acknowledgedBy, at: row.acknowledgedAt };
    }
    const [event] = await tx
      .select()
      .from(events)
      .where(and(eq(events.workspaceId, key.workspaceId), eq(events.id, key.eventId)));
    const at = new Date();
    await tx.update(alerts).set({ acknowledgedBy: request.actor.id, acknowledgedAt: at }).where(whereKey(key));
    const { group } = request;
    const { stored } = await appendEvents(tx, key.workspaceId, [
      {
        type: ALERT_ACKNOWLEDGED_TYPE,
        actor: request.actor,
        resource: group
          ? { type: 'alert_rule', id: key.ruleId }
          : event
            ? rowToEvent(event).resource
            : { type: 'alert', id: key.eventId },
        ...(request.context && { context: request.context }),
        metadata: {
          alertedEventId: key.eventId,
          ruleId: key.ruleId,
          ...(event && { alertedType: event.type }),
          ...(group && { groupId: group.id, groupCount: group.count }),
        },
      },
    ]);
    await touchGroupHeadedBy(tx, key);
    await notifyHomeChanged(tx, key.workspaceId);
    return { status: 'acknowledged', at, eventId: stored[0]!.id };
  });
}

/** What became of an alert, for the App Home: the last of these that happened wins. */
export type AlertState =
  | 'posting'
  | 'posted'
  /** Shown in its group's message (the rule's `group`, or storm protection), which is in the channel. */
  | 'grouped'
  | 'logged'
  | 'failed'
  | 'silenced'
  | 'acknowledged'
  | 'reverted';

export interface AlertWithState {
  alert: AlertRow;
  event: StoredEvent;
  state: AlertState;
  /** Who reverted the event, when it was. */
  revertedBy?: string;
  /** For an alert in a grouped message: where that message is, and how many events it shows. */
  group?: { channelId: string | null; count: number };
}

/** The workspace's latest alerts, newest first, each with its event and its state. */
export async function latestAlerts(db: DbOrTx, workspaceId: string, limit: number): Promise<AlertWithState[]> {
  const rows = await db
    .select({
      alert: alerts,
      event: events,
      revertStatus: reverts.status,
      revertedBy: reverts.requestedBy,
      groupChannelId: alertGroups.channelId,
      groupTs: alertGroups.ts,
      groupCount: alertGroups.count,
    })
    .from(alerts)
    .innerJoin(events, and(eq(events.workspaceId, alerts.workspaceId), eq(events.id, alerts.eventId)))
    .leftJoin(reverts, and(eq(reverts.workspaceId, alerts.workspaceId), eq(reverts.eventId, alerts.eventId)))
    .leftJoin(
      alertGroupMembers,
      and(
        eq(alerts.status, 'grouped'),
        eq(alertGroupMembers.workspaceId, alerts.workspaceId),
        eq(alertGroupMembers.eventId, alerts.eventId),
        eq(alertGroupMembers.ruleId, alerts.ruleId),
      ),
    )
    .leftJoin(alertGroups, eq(alertGroups.id, alertGroupMembers.groupId))
    .where(eq(alerts.workspaceId, workspaceId))
    .orderBy(desc(alerts.createdAt), desc(events.seq))
    .limit(limit);
  return rows.map(({ alert, event, revertStatus, revertedBy, groupChannelId, groupTs, groupCount }) => ({
    alert,
    event: rowToEvent(event),
    // A grouped alert is in the channel once its group's message is; until then it waits, like one posting alone.
    state: alertState(alert, revertStatus === 'done', groupTs !== null),
    ...(revertStatus === 'done' && revertedBy && { revertedBy }),
    ...(groupCount !== null && { group: { channelId: groupChannelId, count: groupCount } }),
  }));
}

function alertState(alert: AlertRow, reverted: boolean, groupPosted: boolean): AlertState {
  if (reverted) return 'reverted';
  if (alert.acknowledgedAt) return 'acknowledged';
  switch (alert.status) {
    case 'sent':
      return 'posted';
    case 'grouped':
      return groupPosted ? 'grouped' : 'posting';
    case 'silenced':
    case 'logged':
    case 'failed':
      return alert.status;
    default:
      return 'posting';
  }
}
