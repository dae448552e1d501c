import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  canonicalJsonWithin,
  canonicalTemplate,
  chainHash,
  type EarlyFields,
  fillTemplate,
  GENESIS_HASH,
  hashLink,
} from '../../src/store/chain.ts';

const fields = {
  id: 'evt_1',
  workspaceId: 'acme',
  type: 'Source Modified',
  category: 'Source',
  timestamp: '2026-11-25T10:00:00.000Z',
  receivedAt: '2026-11-25T10:00:01.000Z',
  actor: { type: 'user' as const, id: 'usr_1', name: 'Jane' },
  resource: { type: 'source', id: 'src_1' },
  changes: { before: { b: 1, a: [3, { z: null, y: 'é' }] } },
  context: null,
  metadata: { '"quoted"': '\u2028' },
};

const jsonObject = fc.option(fc.dictionary(fc.string(), fc.jsonValue()), { nil: null });

/** Early fields as the store makes them: every key present, objects or null, strings anywhere. */
const earlyFields: fc.Arbitrary<EarlyFields> = fc.record(
  {
    id: fc.string(),
    workspaceId: fc.string(),
    type: fc.string(),
    category: fc.string(),
    timestamp: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
    actor: fc.record(
      { type: fc.constantFrom('user' as const, 'token' as const), id: fc.string(), name: fc.string() },
      { requiredKeys: ['type', 'id'] },
    ),
    resource: fc.record({ type: fc.string(), id: fc.string(), name: fc.string() }, { requiredKeys: ['type', 'id'] }),
    changes: jsonObject,
    context: jsonObject,
    metadata: jsonObject,
  },
  { requiredKeys: ['id', 'workspaceId', 'type', 'category', 'actor', 'resource', 'changes', 'context', 'metadata'] },
) as fc.Arbitrary<EarlyFields>;

describe('canonical JSON', () => {
  it('sorts keys at every depth and drops whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: 'x' } })).toBe('{"a":{"c":"x","d":[2,1]},"b":1}');
  });

  it('stops at a depth limit, and is canonicalJson within it', () => {
    const deep = { a: [{ b: { c: 1 } }] }; // 4 levels
    expect(canonicalJsonWithin(deep, 4)).toBe(canonicalJson(deep));
    expect(canonicalJsonWithin(deep, 3)).toBeUndefined();
    expect(canonicalJsonWithin('text', 0)).toBe('"text"');
  });

  it('splits around seq and receivedAt without changing a byte of the canonical form', () => {
    const { receivedAt, ...early } = fields;
    for (const seq of [1, 42, 9_007_199_254_740_991]) {
      expect(fillTemplate(canonicalTemplate(early), seq, receivedAt)).toBe(canonicalJson({ ...fields, seq }));
    }
    expect(hashLink(GENESIS_HASH, fillTemplate(canonicalTemplate(early), 7, receivedAt))).toBe(
      chainHash(GENESIS_HASH, { ...fields, seq: 7 }),
    );
  });

  it('takes the timestamp late too when the event has none', () => {
    const { receivedAt, timestamp: _, ...early } = fields;
    expect(fillTemplate(canonicalTemplate(early), 3, receivedAt)).toBe(
      canonicalJson({ ...fields, seq: 3, timestamp: receivedAt }),
    );
  });

  it('writes the same canonical form as canonicalJson for any event, with or without known texts', () => {
    fc.assert(
      fc.property(earlyFields, fc.nat(), fc.date({ noInvalidDate: true }), (early, seq, at) => {
        const receivedAt = at.toISOString();
        const expected = canonicalJson({ ...early, timestamp: early.timestamp ?? receivedAt, seq, receivedAt });
        expect(fillTemplate(canonicalTemplate(early), seq, receivedAt)).toBe(expected);
        const known = new Map<object, string>();
        for (const value of [early.actor, early.resource, early.changes, early.context, early.metadata]) {
          if (value) known.set(value, canonicalJson(value));
        }
        expect(fillTemplate(canonicalTemplate(early, known), seq, receivedAt)).toBe(expected);
      }),
      { numRuns: 300 },
    );
  });

  it('uses the known text of an object instead of serializing it again', () => {
    const { receivedAt, ...early } = fields;
    const known = new Map<object, string>([[early.changes, '{"marker":true}']]);
    expect(fillTemplate(canonicalTemplate(early, known), 1, receivedAt)).toContain('"changes":{"marker":true}');
  });
});
