import { describe, expect, it } from 'vitest';
import { canonicalJson, canonicalTemplate, chainHash, GENESIS_HASH, hashLink } from '../../src/store/chain.ts';

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

describe('canonical JSON', () => {
  it('sorts keys at every depth and drops whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: 'x' } })).toBe('{"a":{"c":"x","d":[2,1]},"b":1}');
  });

  it('splits around seq and receivedAt without changing a byte of the canonical form', () => {
    const { receivedAt, ...early } = fields;
    for (const seq of [1, 42, 9_007_199_254_740_991]) {
      const canonical = canonicalTemplate(early)({ seq, receivedAt, timestamp: 'unused' });
      expect(canonical).toBe(canonicalJson({ ...fields, seq }));
    }
    const late = { seq: 7, receivedAt, timestamp: fields.timestamp };
    expect(hashLink(GENESIS_HASH, canonicalTemplate(early)(late))).toBe(chainHash(GENESIS_HASH, { ...fields, seq: 7 }));
  });

  it('takes the timestamp late too when the event has none', () => {
    const { receivedAt, timestamp: _, ...early } = fields;
    const late = { seq: 3, receivedAt, timestamp: receivedAt };
    expect(canonicalTemplate(early)(late)).toBe(canonicalJson({ ...fields, ...late }));
  });
});
