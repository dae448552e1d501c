import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../../src/events.ts';
import { MAX_CALL_BYTES, serialiseTrackCall, trackMessageId } from '../../src/forwarding/track-call.ts';
import { retryAfterMs } from '../../src/retry.ts';

function event(overrides: Partial<StoredEvent> = {}): StoredEvent {
  return {
    id: 'evt_1',
    workspaceId: 'acme',
    seq: 7,
    type: 'Warehouses Disabled',
    category: 'Warehouses',
    timestamp: '2026-11-25T10:00:00.000Z',
    receivedAt: '2026-11-25T10:00:01.000Z',
    actor: { type: 'user', id: 'usr_1', email: 'jane@acme.com' },
    resource: { type: 'warehouse', id: 'wh_1' },
    changes: null,
    context: null,
    metadata: null,
    hash: 'h',
    ...overrides,
  };
}

describe('serialiseTrackCall', () => {
  it(
    'leaves out the objects an event does not have ' + 'and keeps the store-only fields (seq, hash, receivedAt) out',
    () => {
      const call = JSON.parse(serialiseTrackCall(event()).json) as Record<string, unknown>;
      expect(call).toEqual({
        type: 'track',
        event: 'Warehouses Disabled',
        userId: 'usr_1',
        messageId: trackMessageId('acme', 'evt_1'),
        timestamp: '2026-11-25T10:00:00.000Z',
        properties: {
          actor: { type: 'user', id: 'usr_1', email: 'jane@acme.com' },
          resource: { type: 'warehouse', id: 'wh_1' },
          category: 'Warehouses',
          workspace: 'acme',
          eventId: 'evt_1',
        },
        context: { library: { name: 'audit-trail' } },
      });
    },
  );

  it('trims the largest objects first, only as many as it takes, and says which', () => {
    const big = event({
      changes: { a: 'c'.repeat(20_000) },
      context: { b: 'x'.repeat(5000) },
      metadata: { c: 'm'.repeat(14_000) },
    });
    const result = serialiseTrackCall(big);
    expect(result.trimmed).toEqual(['changes']);
    expect(result.bytes).toBeLessThanOrEqual(MAX_CALL_BYTES);
    expect(result.bytes).toBe(Buffer.byteLength(result.json));
    const properties = (JSON.parse(result.json) as { properties: Record<string, unknown> }).properties;
    expect(properties).toMatchObject({
      changes: { trimmed: true, bytes: 20_008 },
      context: { b: 'x'.repeat(5000) },
      auditTrailTrimmed: ['changes'],
    });

    const huge = event({
      changes: { a: 'c'.repeat(20_000) },
      context: { b: 'é'.repeat(9000) },
      metadata: { c: 'm'.repeat(20_000) },
    });
    expect(serialiseTrackCall(huge).trimmed).toEqual(['changes', 'metadata']);
    expect(serialiseTrackCall(huge, 1000).trimmed).toEqual(['changes', 'metadata', 'context']);
  });

  it('counts bytes, not characters', () => {
    const result = serialiseTrackCall(event({ metadata: { text: '€'.repeat(11_000) } }));
    expect(result.trimmed).toEqual(['metadata']);
  });
});

describe('trackMessageId', () => {
  it(
    'is stable, differs between workspaces and ids, ' +
      'and stays under Segment’s 100 characters whatever their length',
    () => {
      expect(trackMessageId('acme', 'evt_1')).toBe(trackMessageId('acme', 'evt_1'));
      expect(trackMessageId('acme', 'evt_1')).not.toBe(trackMessageId('globex', 'evt_1'));
      // No separator to forge: ('a:b', 'c') and ('a', 'b:c') are different events.
      expect(trackMessageId('a:b', 'c')).not.toBe(trackMessageId('a', 'b:c'));
      expect(trackMessageId('w'.repeat(500), 'e'.repeat(256))).toMatch(/^audit-event-[0-9a-f]{64}$/);
    },
  );
});

describe('retryAfterMs', () => {
  it('reads seconds and HTTP dates, and ignores what it cannot read', () => {
    expect(retryAfterMs('2')).toBe(2000);
    expect(retryAfterMs('0.5')).toBe(500);
    expect(retryAfterMs('Wed, 25 Nov 2026 10:00:30 GMT', Date.parse('2026-11-25T10:00:00Z'))).toBe(30_000);
    expect(retryAfterMs('soon')).toBeUndefined();
    expect(retryAfterMs(null)).toBeUndefined();
  });
});
