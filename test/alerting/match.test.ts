import { describe, expect, it } from 'vitest';
import { groupKey, matchRule, resolvePath } from '../../src/alerting/match.ts';
import { parseRule } from '../../src/alerting/rules/schema.ts';
import type { Rule } from '../../src/alerting/rules/types.ts';
import { categoryOf } from '../../src/catalog.ts';
import type { StoredEvent } from '../../src/events.ts';

/** A rule built by the real schema from what a rule file would say. */
function rule(fields: Record<string, unknown>): Rule {
  const result = parseRule({ channel: '#data-alerts', ...fields }, { file: 'rules/test.yml' });
  if (!result.ok) throw new Error(result.issues.map((issue) => issue.message).join('\n'));
  return result.rule;
}

function event(overrides: Partial<StoredEvent> = {}): StoredEvent {
  const type = overrides.type ?? 'Warehouses Disabled';
  return {
    id: 'evt_1',
    workspaceId: 'ws_1',
    seq: 1,
    type,
    category: categoryOf(type),
    timestamp: '2026-11-25T10:00:00.000Z',
    receivedAt: '2026-11-25T10:00:01.000Z',
    actor: { type: 'user', id: 'usr_1', name: 'Jane Doe', email: 'jane@acme.com' },
    resource: { type: 'warehouse', id: 'wh_1', name: 'Prod Snowflake' },
    changes: { before: { enabled: true }, after: { enabled: false } },
    context: { ip: '203.0.113.7' },
    metadata: null,
    hash: 'h',
    ...overrides,
  };
}

describe('matchRule', () => {
  it('matches an event whose type is any of the listed types', () => {
    const warehouses = rule({ when: { type: ['Source Disabled', 'Warehouses Disabled'] } });

    expect(matchRule(warehouses, event())).toBe(true);
    expect(matchRule(warehouses, event({ type: 'Warehouses Enabled' }))).toBe(false);
  });

  it('matches by category, including Other for types outside the catalog', () => {
    const warehouses = rule({ when: { category: 'Warehouses' } });
    const other = rule({ when: { category: ['Other'] } });

    expect(matchRule(warehouses, event({ type: 'Warehouse Run Failed' }))).toBe(true);
    expect(matchRule(warehouses, event({ type: 'Source Deleted' }))).toBe(false);
    expect(matchRule(other, event({ type: 'Deploy Finished' }))).toBe(true);
  });

  it('requires every condition to hold', () => {
    const byTokens = rule({
      when: { type: ['Warehouses Disabled'], category: ['Warehouses'], actor: { type: 'token' } },
    });

    expect(matchRule(byTokens, event())).toBe(false);
    expect(matchRule(byTokens, event({ actor: { type: 'token', id: 'tok_1' } }))).toBe(true);
  });

  it('matches every event when `when` is empty, and none when the rule is disabled', () => {
    expect(matchRule(rule({ when: {} }), event({ type: 'Anything At All' }))).toBe(true);
    expect(matchRule(rule({ when: {}, enabled: false }), event())).toBe(false);
  });

  it('compares a scalar for equality and treats a list as any-of', () => {
    expect(matchRule(rule({ when: { actor: { id: 'usr_1' } } }), event())).toBe(true);
    expect(matchRule(rule({ when: { actor: { id: 'usr_2' } } }), event())).toBe(false);
    expect(matchRule(rule({ when: { actor: { type: ['user', 'token'] } } }), event())).toBe(true);
    expect(matchRule(rule({ when: { actor: { type: ['system', 'token'] } } }), event())).toBe(false);
  });

  it('compares booleans and numbers by value and never equates them with strings', () => {
    const wasEnabled = rule({ when: { changes: { 'before.enabled': true } } });
    const fiveRows = rule({ when: { metadata: { rows: 5 } } });

    expect(matchRule(wasEnabled, event())).toBe(true);
    expect(matchRule(wasEnabled, event({ changes: { before: { enabled: 'true' } } }))).toBe(false);
    expect(matchRule(fiveRows, event({ metadata: { rows: 5.0 } }))).toBe(true);
    expect(matchRule(fiveRows, event({ metadata: { rows: '5' } }))).toBe(false);
  });

  it('negates a scalar or an any-of list with not, and holds not for a missing field', () => {
    const notSandbox = rule({ when: { resource: { id: { not: 'wh_sandbox' } } } });
    const notTestOrSandbox = rule({ when: { resource: { id: { not: ['wh_test', 'wh_sandbox'] } } } });
    const notPlanFree = rule({ when: { metadata: { plan: { not: 'free' } } } });

    expect(matchRule(notSandbox, event())).toBe(true);
    expect(matchRule(notSandbox, event({ resource: { type: 'warehouse', id: 'wh_sandbox' } }))).toBe(false);
    expect(matchRule(notTestOrSandbox, event({ resource: { type: 'warehouse', id: 'wh_test' } }))).toBe(false);
    expect(matchRule(notTestOrSandbox, event())).toBe(true);
    expect(matchRule(notPlanFree, event())).toBe(true);
  });

  it('matches a glob against the whole value, with * and ? as the only wildcards', () => {
    const warehouses = rule({ when: { resource: { id: { glob: 'wh_*' } } } });
    const oneChar = rule({ when: { resource: { id: { glob: 'wh_?' } } } });
    const dotted = rule({ when: { resource: { name: { glob: 'prod.(eu)+*' } } } });

    expect(matchRule(warehouses, event())).toBe(true);
    expect(matchRule(warehouses, event({ resource: { type: 'warehouse', id: 'src_wh_1' } }))).toBe(false);
    expect(matchRule(oneChar, event())).toBe(true);
    expect(matchRule(oneChar, event({ resource: { type: 'warehouse', id: 'wh_12' } }))).toBe(false);
    expect(matchRule(dotted, event({ resource: { type: 'warehouse', id: 'wh_1', name: 'prod.(eu)+1' } }))).toBe(true);
    expect(matchRule(dotted, event({ resource: { type: 'warehouse', id: 'wh_1', name: 'prodX(eu)+1' } }))).toBe(false);
    expect(matchRule(dotted, event({ resource: { type: 'warehouse', id: 'wh_1', name: 'prod.euu1' } }))).toBe(false);
  });

  it('searches a regex anywhere in the value unless anchored, and matches numbers by their text', () => {
    const acme = rule({ when: { actor: { email: { regex: '@acme\\.com$' } } } });
    const anchored = rule({ when: { actor: { email: { regex: '^acme' } } } });
    const bigExport = rule({ when: { metadata: { rows: { regex: '^[0-9]{4,}$' } } } });

    expect(matchRule(acme, event())).toBe(true);
    expect(matchRule(acme, event({ actor: { type: 'user', id: 'u', email: 'jane@acme.com.evil.io' } }))).toBe(false);
    expect(matchRule(anchored, event())).toBe(false);
    expect(matchRule(bigExport, event({ metadata: { rows: 25_000 } }))).toBe(true);
    expect(matchRule(bigExport, event({ metadata: { rows: 12 } }))).toBe(false);
  });

  it('never matches a glob or regex against a missing field or an object', () => {
    const anything = rule({ when: { metadata: { plan: { regex: '' } } } });

    expect(matchRule(anything, event())).toBe(false);
    expect(matchRule(anything, event({ metadata: { plan: { tier: 'pro' } } }))).toBe(false);
    expect(matchRule(anything, event({ metadata: { plan: 'pro' } }))).toBe(true);
  });

  it('holds exists: true for a present value and exists: false for a missing or null one', () => {
    const hasEmail = rule({ when: { actor: { email: { exists: true } } } });
    const noReason = rule({ when: { metadata: { reason: { exists: false } } } });

    expect(matchRule(hasEmail, event())).toBe(true);
    expect(matchRule(hasEmail, event({ actor: { type: 'token', id: 'tok_1' } }))).toBe(false);
    expect(matchRule(noReason, event())).toBe(true);
    expect(matchRule(noReason, event({ metadata: { reason: null } }))).toBe(true);
    expect(matchRule(noReason, event({ metadata: { reason: '' } }))).toBe(false);
  });

  it('follows dotted paths into changes, context and metadata', () => {
    const disabledFromEnabled = rule({ when: { changes: { 'before.enabled': true, 'after.enabled': false } } });
    const office = rule({ when: { context: { ip: { glob: '203.0.113.*' } } } });
    const deep = rule({ when: { metadata: { 'a.b.c': 1 } } });

    expect(matchRule(disabledFromEnabled, event())).toBe(true);
    expect(
      matchRule(disabledFromEnabled, event({ changes: { before: { enabled: false }, after: { enabled: false } } })),
    ).toBe(false);
    expect(matchRule(office, event())).toBe(true);
    expect(matchRule(deep, event({ metadata: { a: { b: { c: 1 } } } }))).toBe(true);
    expect(matchRule(deep, event({ metadata: { a: { b: 1 } } }))).toBe(false);
  });

  it('finds a key that itself contains dots, and never an inherited property', () => {
    expect(resolvePath({ 'a.b': 1 }, ['a', 'b'])).toBe(1);
    expect(resolvePath({ a: { 'b.c': 2 } }, ['a', 'b', 'c'])).toBe(2);
    expect(matchRule(rule({ when: { metadata: { constructor: { exists: false } } } }), event({ metadata: {} }))).toBe(
      true,
    );
    expect(
      matchRule(rule({ when: { metadata: { 'toString.name': { exists: false } } } }), event({ metadata: {} })),
    ).toBe(true);
  });
});

describe('groupKey', () => {
  it('keys by the value at the path, within the workspace', () => {
    expect(groupKey('actor.id', event())).toBe('ws_1:usr_1');
    expect(groupKey('resource.id', event())).toBe('ws_1:wh_1');
    expect(groupKey('type', event())).toBe('ws_1:Warehouses Disabled');
    expect(groupKey('metadata.team', event({ metadata: { team: 'growth' } }))).toBe('ws_1:growth');
  });

  it('keeps the same actor in two workspaces apart', () => {
    expect(groupKey('actor.id', event({ workspaceId: 'ws_2' }))).not.toBe(groupKey('actor.id', event()));
  });

  it('puts events without the field, or with null, in one group of their own', () => {
    expect(groupKey('metadata.team', event())).toBe('ws_1:');
    expect(groupKey('metadata.team', event({ metadata: { team: null } }))).toBe('ws_1:');
    expect(groupKey('actor.email', event({ actor: { type: 'token', id: 'tok_1' } }))).toBe('ws_1:');
  });

  it('writes non-string values as JSON and makes one group per workspace without a path', () => {
    expect(groupKey('metadata.n', event({ metadata: { n: 5 } }))).toBe('ws_1:5');
    expect(groupKey('metadata.o', event({ metadata: { o: { a: true } } }))).toBe('ws_1:{"a":true}');
    expect(groupKey(undefined, event())).toBe('ws_1');
  });
});
