/** The relay role: moves committed events from the Postgres outbox onto the audit-events queue. */
import { OutboxRelay } from '../outbox/relay.ts';
import type { Role, SharedInfrastructure } from './role.ts';

export function createRelayRole(shared: SharedInfrastructure): Role {
  const { database, metrics } = shared;
  const log = shared.logger.child({ role: 'relay' });
  const relay = new OutboxRelay(database.db, database.sql, shared.queues.auditEvents, log, {
    onRelayed: (n) => metrics.relayedEvents.inc(n),
  });
  return {
    start: () => relay.start(),
    stop: () => relay.stop(),
  };
}
