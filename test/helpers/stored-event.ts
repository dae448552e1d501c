/** A StoredEvent as the store hands it out, for tests of what is built from one (blocks, pages). */
import type { StoredEvent } from '../../src/events.ts';

export function storedEvent(overrides: Partial<StoredEvent> = {}): StoredEvent {
  return {
    id: 'evt_01',
    workspaceId: 'ws_1',
    seq: 42,
    type: 'Warehouses Disabled',
    category: 'Warehouses',
    timestamp: '2026-11-25T10:00:00.000Z',
    receivedAt: '2026-11-25T10:00:01.000Z',
    actor: { type: 'user', id: 'usr_1', name: 'Jane Doe', email: 'jane@acme.com' },
    resource: { type: 'warehouse', id: 'wh_1', name: 'Prod Snowflake' },
    changes: { before: { enabled: true }, after: { enabled: false } },
    context: null,
    metadata: null,
    hash: 'abc',
    ...overrides,
  };
}
