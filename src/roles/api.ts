/** The api role: the producer API (/v1/events) and the bootstrap tokens from INGEST_TOKENS that it accepts. */
import { eventRoutes } from '../http/routes/events.ts';
import { registerBootstrapTokens } from '../store/tokens.ts';
import type { Role, SharedInfrastructure } from './role.ts';

export interface ApiRoleOptions {
  /** How many events a workspace may have waiting for Postgres before ingest answers 429. */
  appendLimits?: { maxEventsPerGroup?: number; maxWaitingEvents?: number };
}

export function createApiRole(shared: SharedInfrastructure, options: ApiRoleOptions = {}): Role {
  const { database, metrics } = shared;
  void shared.http.register(eventRoutes, { database, metrics, appendLimits: options.appendLimits });
  return {
    start: () => registerBootstrapTokens(database.db, shared.config.ingestTokens),
    stop: async () => {},
  };
}
