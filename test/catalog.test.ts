import { describe, expect, it } from 'vitest';
import {
  catalogTypeFor,
  categoryOf,
  EVENT_TYPES,
  normaliseEventType,
  revertPlanFor,
  revertPlanForType,
} from '../src/catalog.ts';

/** Every wire name SPEC section 7 lists, with the catalog type it stands for. */
const SPEC_WIRE_NAMES: readonly [string, string][] = [
  ['Warehouse Disabled', 'Warehouses Disabled'],
  ['Integration Modified', 'Integrations Modified'],
  ['Source Function Updated', 'Source Function Modified'],
  ['Destination Filter Disabled', 'Destination Filters Disabled'],
  ['New Event Allowed', 'Tracking Plan New Event Allowed'],
  ['Schema Event Blocked', 'Tracking Plan New Event Blocked'],
  ['Personas Warehouse Source Modified', 'Engage Warehouse Source Modified'],
  ['Storage Destination Modified', 'Warehouses Modified'],
  ['Storage Destination Enabled', 'Warehouses Enabled'],
  ['Source Settings Modified', 'Source Modified'],
];

describe('the catalog', () => {
  it('holds the seed’s types plus Destination Filters Enabled and Disabled, each reverting the other', () => {
    expect(EVENT_TYPES).toHaveLength(68);
    expect(categoryOf('Destination Filters Enabled')).toBe('Destination Filters');
    expect(categoryOf('Destination Filters Disabled')).toBe('Destination Filters');
    expect(revertPlanForType('Destination Filters Disabled')).toEqual({
      kind: 'toggle',
      path: 'destination-filters',
      enabled: true,
      inverseType: 'Destination Filters Enabled',
    });
    expect(revertPlanForType('Destination Filters Enabled')).toMatchObject({
      enabled: false,
      inverseType: 'Destination Filters Disabled',
    });
    // A filter is addressed through its destination, so without metadata.destinationId there is no button.
    const filter = { type: 'Destination Filters Disabled', metadata: null };
    expect(revertPlanFor(filter)).toBeUndefined();
    expect(revertPlanFor({ ...filter, metadata: { destinationId: 'dst_1' } })).toBeDefined();
  });

  it('reads every catalog type as itself', () => {
    for (const type of EVENT_TYPES) expect(normaliseEventType(type)).toEqual({ type });
  });
});

describe('wire names', () => {
  it.each(SPEC_WIRE_NAMES)('reads %s as %s and keeps the wire name', (wire, type) => {
    expect(catalogTypeFor(wire)).toBe(type);
    expect(normaliseEventType(wire)).toEqual({ type, wireName: wire });
  });

  it('applies the general rules to names the SPEC does not list', () => {
    const cases: [string, string][] = [
      // singular / plural, either way round
      ['Warehouse Created', 'Warehouses Created'],
      ['Integration Enabled', 'Integrations Enabled'],
      ['Destination Filter Created', 'Destination Filters Created'],
      ['Violation Detected', 'Violations Detected'],
      ['Sources Disabled', 'Source Disabled'],
      // Updated / Modified
      ['Destination Function Updated', 'Destination Function Modified'],
      ['Audience Updated', 'Audience Modified'],
      ['Computed Trait Updated', 'Computed Trait Modified'],
      // Personas / Engage, Storage Destination / Warehouses, Schema / Tracking Plan
      ['Personas Warehouse Source Created', 'Engage Warehouse Source Created'],
      ['Storage Destination Disabled', 'Warehouses Disabled'],
      ['Schema Event Allowed', 'Tracking Plan New Event Allowed'],
      ['Schema Modified', 'Tracking Plan Modified'],
      // case, as Segment's forwarding spells "Source Connected To Tracking Plan"
      ['Source Connected To Tracking Plan', 'Source Connected to Tracking Plan'],
      ['warehouses disabled', 'Warehouses Disabled'],
    ];
    for (const [wire, type] of cases) expect([wire, catalogTypeFor(wire)]).toEqual([wire, type]);
  });

  it('keeps a catalog type that only looks like a synonym of another: Tracking Plan Updated is not Modified', () => {
    expect(catalogTypeFor('Tracking Plan Updated')).toBe('Tracking Plan Updated');
    expect(catalogTypeFor('Tracking Plans Updated')).toBe('Tracking Plan Updated');
    expect(catalogTypeFor('User Group Updated')).toBe('User Group Updated');
    expect(catalogTypeFor('Destination Function Created')).toBe('Destination Function Created');
  });

  it('stores a name with no twin as it came, in category Other', () => {
    for (const name of [
      'Permission Check',
      'Schema Identify Trait Archived',
      'Audit Access Denied',
      'Source Run Failed',
    ]) {
      expect(normaliseEventType(name)).toEqual({ type: name });
      expect(categoryOf(name)).toBe('Other');
    }
  });

  it('gives a wire name the revert of its catalog type', () => {
    expect(revertPlanForType('Warehouse Disabled')).toEqual(revertPlanForType('Warehouses Disabled'));
    expect(revertPlanForType('Destination Filter Enabled')?.inverseType).toBe('Destination Filters Disabled');
  });
});
