/**
 * The App Home tab (views.publish): published when a user opens it, and republished for owners who opened it in the
 * last half hour whenever their workspace's alerts or silences change, whichever process changed them (the store
 * NOTIFYs, see store/home-changes.ts). Owner or not is decided by the same check as every owner-only listener.
 */
import type { WebClient } from '@slack/web-api';
import type postgres from 'postgres';
import type { Config } from '../../config.ts';
import type { Logger } from '../../logger.ts';
import { latestAlerts } from '../../store/alerts.ts';
import type { Database } from '../../store/db.ts';
import { getForwardingStatus } from '../../store/forwarding.ts';
import { HOME_CHANGES_CHANNEL } from '../../store/home-changes.ts';
import { countActiveSilences, listActiveSilences } from '../../store/silences.ts';
import { buildNonOwnerHome, buildOwnerHome, HOME_ALERTS, HOME_SILENCES } from '../blocks/home.ts';
import { workspaceForTeam } from '../context.ts';
import type { OwnerCheck } from '../owners.ts';
import { readImportStatusForHome } from './import-status.ts';

export interface HomeTab {
  /** app_home_opened: publishes the user's home now and, for an owner, keeps it fresh for a while. */
  opened(userId: string, teamId: string | undefined): Promise<void>;
  /** Publishes one user's home now (after a click of theirs in it). Never throws: failures are logged. */
  publishFor(userId: string, teamId: string | undefined): Promise<void>;
  /** The workspace's alerts or silences changed: republishes, a moment later, for the owners looking at it. */
  changed(workspaceId: string): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface HomeTabOptions {
  client: WebClient;
  database: Database;
  owners: OwnerCheck;
  config: Config;
  logger: Logger;
  /** How long after opening it an owner's home is kept fresh (default 30 min). */
  recentMs?: number;
  /** Changes within this long are one republish (default 1 s): a burst of alerts is one views.publish per viewer. */
  debounceMs?: number;
}

interface Viewer {
  workspaceId: string;
  teamId: string | undefined;
  openedAt: number;
}

export function createHomeTab(options: HomeTabOptions): HomeTab {
  const { client, database, owners, config } = options;
  const log = options.logger.child({ component: 'app-home' });
  const recentMs = options.recentMs ?? 30 * 60_000;
  const debounceMs = options.debounceMs ?? 1000;
  const viewers = new Map<string, Viewer>();
  const pending = new Map<string, NodeJS.Timeout>();
  /** The last publish per user: the next waits for it, so an older view never lands after a newer one. */
  const publishing = new Map<string, Promise<void>>();
  let listener: postgres.ListenMeta | undefined;
  let stopped = false;

  async function publish(userId: string, teamId: string | undefined): Promise<void> {
    const workspaceId = workspaceForTeam(config, teamId);
    const owner = await owners.isOwner(userId);
    if (!owner) {
      viewers.delete(userId);
      await client.views.publish({ user_id: userId, view: buildNonOwnerHome(userId) });
      return;
    }
    const { db } = database;
    const [alerts, silences, silenceCount, forwarding, importStatus] = await Promise.all([
      latestAlerts(db, workspaceId, HOME_ALERTS),
      listActiveSilences(db, workspaceId, HOME_SILENCES),
      countActiveSilences(db, workspaceId),
      getForwardingStatus(db, workspaceId),
      readImportStatusForHome(db, workspaceId, config.segment.pull),
    ]);
    const view = buildOwnerHome({
      workspaceId,
      alerts,
      silences,
      silenceCount,
      forwarding,
      importStatus,
      now: new Date(),
    });
    await client.views.publish({ user_id: userId, view });
  }

  function publishFor(userId: string, teamId: string | undefined): Promise<void> {
    const previous = publishing.get(userId) ?? Promise.resolve();
    const next = previous
      .then(() => publish(userId, teamId))
      .catch((error: unknown) => log.warn({ err: error, user: userId }, 'could not publish the App Home'))
      .finally(() => {
        if (publishing.get(userId) === next) publishing.delete(userId);
      });
    publishing.set(userId, next);
    return next;
  }

  function republish(workspaceId: string): void {
    pending.delete(workspaceId);
    const since = Date.now() - recentMs;
    for (const [userId, viewer] of viewers) {
      if (viewer.openedAt < since) viewers.delete(userId);
      else if (viewer.workspaceId === workspaceId) void publishFor(userId, viewer.teamId);
    }
  }

  function changed(workspaceId: string): void {
    if (stopped || pending.has(workspaceId)) return;
    if (![...viewers.values()].some((viewer) => viewer.workspaceId === workspaceId)) return;
    pending.set(
      workspaceId,
      setTimeout(() => republish(workspaceId), debounceMs),
    );
  }

  return {
    async opened(userId, teamId) {
      viewers.set(userId, { workspaceId: workspaceForTeam(config, teamId), teamId, openedAt: Date.now() });
      await publishFor(userId, teamId);
    },
    publishFor,
    changed,
    async start() {
      // A missed notification (while the listener reconnects) only delays a refresh until the next change or open.
      listener = await database.sql.listen(HOME_CHANGES_CHANNEL, changed);
    },
    async stop() {
      stopped = true;
      for (const timer of pending.values()) clearTimeout(timer);
      pending.clear();
      await listener?.unlisten().catch(() => {});
      await Promise.allSettled([...publishing.values()]);
    },
  };
}
