/**
 * The api role: the producer API (/v1/events, and /v1/segment for Segment's Audit Forwarding) and the bootstrap tokens
 * from INGEST_TOKENS that it accepts.
 */
import { eventRoutes } from '../http/routes/events.ts';
import { segmentRoutes } from '../http/routes/segment.ts';
import { EventAppender } from '../store/append.ts';
import { registerBootstrapTokens } from '../store/tokens.ts';
import type { Role, SharedInfrastructure } from './role.ts';

export interface ApiRoleOptions {
  /** How many events a workspace may have waiting for Postgres before ingest answers 429. */
  appendLimits?: { maxEventsPerGroup?: number; maxWaitingEvents?: number };
}

export function createApiRole(shared: SharedInfrastructure, options: ApiRoleOptions = {}): Role {
  const { database, metrics } = shared;
  // One appender for both routes: a workspace's events from /v1/events and /v1/segment share its group commits and
  // its limit on events waiting for Postgres.
  const appender = new EventAppender(database.db, options.appendLimits);
  void shared.http.register(eventRoutes, { database, metrics, appender });
  void shared.http.register(segmentRoutes, { database, metrics, appender });
  // Every outcome is on /metrics from the start, so a dashboard shows 0 rather than no data.
  for (const outcome of ['accepted', 'duplicate', 'ignored', 'rejected']) metrics.segmentPushEvents.inc({ outcome }, 0);
  return {
    async start() {
      const conflicts = await registerBootstrapTokens(database.db, shared.config.ingestTokens);
      for (const { id, workspaceId, registeredWorkspaceId } of conflicts) {
        shared.logger.warn(
          { tokenId: id, workspaceId, registeredWorkspaceId },
          `INGEST_TOKENS names workspace ${workspaceId} for a token registered for workspace ` +
            `${registeredWorkspaceId}, which it keeps writing to: revoke it (tokens revoke ${id}) and give ` +
            `${workspaceId} a new token`,
        );
      }
    },
    stop: async () => {},
  };
}
