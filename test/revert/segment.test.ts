import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { categoryOf, EVENT_TYPES, REVERT_MAP } from '../../src/catalog.ts';
import type { StoredEvent } from '../../src/events.ts';
import { createLogger } from '../../src/logger.ts';
import { createSegmentRevertTarget, type SegmentRevertTargetOptions } from '../../src/revert/segment.ts';
import type { RevertOutcome, RevertTarget } from '../../src/revert/types.ts';
import { type FakeSegment, type SegmentCall, startFakeSegment } from '../helpers/fake-segment.ts';

let segment: FakeSegment;
let logLines: string[];

beforeEach(async () => {
  segment = await startFakeSegment();
  logLines = [];
});

afterEach(async () => {
  await segment.close();
});

function revertTarget(overrides: Partial<SegmentRevertTargetOptions> = {}): RevertTarget {
  return createSegmentRevertTarget({
    apiUrl: segment.publicApiUrl,
    apiToken: segment.apiToken,
    logger: createLogger('debug', { write: (line: string) => void logLines.push(line) }),
    ...overrides,
  });
}

function event(type: string, resource: StoredEvent['resource'], more: Partial<StoredEvent> = {}): StoredEvent {
  return {
    id: 'evt_01',
    workspaceId: 'ws_1',
    seq: 7,
    type,
    category: categoryOf(type),
    timestamp: '2026-11-25T10:00:00.000Z',
    receivedAt: '2026-11-25T10:00:01.000Z',
    actor: { type: 'user', id: 'usr_1', name: 'Jane Doe' },
    resource,
    changes: null,
    context: null,
    metadata: null,
    hash: 'abc',
    ...more,
  };
}

/** Method, path, bearer header and body of each call the fake received, in order. */
function received(
  calls: SegmentCall[] = segment.calls,
): { request: string; authorization: string | undefined; body: unknown }[] {
  return calls.map((call) => ({
    request: `${call.method} ${call.path}`,
    authorization: call.headers.authorization,
    body: call.body,
  }));
}

const bearer = (): string => `Bearer ${segment.apiToken}`;

/** A local URL nothing listens on: a port the OS just handed out and took back. */
async function unusedLocalUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return `http://127.0.0.1:${port}`;
}

function expectFailure(outcome: RevertOutcome): { reason: string; retryable: boolean } {
  if (outcome.ok) throw new Error(`expected a failed revert, got ${JSON.stringify(outcome)}`);
  return outcome;
}

describe('reverting each row of the revert table through the Segment Public API', () => {
  it('re-enables a disabled source and disables an enabled one with PATCH /sources/{id} {enabled}', async () => {
    segment.setSource({ id: 'src_1', enabled: false });
    const target = revertTarget();

    const reEnabled = await target.revert(event('Source Disabled', { type: 'source', id: 'src_1' }));
    expect(reEnabled).toEqual({
      ok: true,
      inverseType: 'Source Enabled',
      summary: 'Re-enabled source src_1',
      changes: { before: { enabled: false }, after: { enabled: true } },
    });
    expect(segment.getSource('src_1')?.enabled).toBe(true);

    const disabled = await target.revert(event('Source Enabled', { type: 'source', id: 'src_1' }));
    expect(disabled).toMatchObject({
      ok: true,
      inverseType: 'Source Disabled',
      summary: 'Disabled source src_1 again',
    });
    expect(segment.getSource('src_1')?.enabled).toBe(false);

    expect(received()).toEqual([
      { request: 'PATCH /sources/src_1', authorization: bearer(), body: { enabled: true } },
      { request: 'PATCH /sources/src_1', authorization: bearer(), body: { enabled: false } },
    ]);
  });

  it(
    're-enables a disabled destination and disables an enabled one ' + 'with PATCH /destinations/{id} {enabled}',
    async () => {
      segment.setDestination({ id: 'dst_1', enabled: false });
      const target = revertTarget();

      const reEnabled = await target.revert(event('Integrations Disabled', { type: 'destination', id: 'dst_1' }));
      expect(reEnabled).toEqual({
        ok: true,
        inverseType: 'Integrations Enabled',
        summary: 'Re-enabled destination dst_1',
        changes: { before: { enabled: false }, after: { enabled: true } },
      });
      expect(segment.getDestination('dst_1')?.enabled).toBe(true);

      const disabled = await target.revert(event('Integrations Enabled', { type: 'destination', id: 'dst_1' }));
      expect(disabled).toMatchObject({ ok: true, inverseType: 'Integrations Disabled' });
      expect(segment.getDestination('dst_1')?.enabled).toBe(false);

      expect(received()).toEqual([
        { request: 'PATCH /destinations/dst_1', authorization: bearer(), body: { enabled: true } },
        { request: 'PATCH /destinations/dst_1', authorization: bearer(), body: { enabled: false } },
      ]);
    },
  );

  it('toggles a warehouse by reading its settings with GET and sending them back with the PATCH', async () => {
    const settings = { name: 'Prod Snowflake', database: 'PROD', warehouse: 'LOADING' };
    segment.setWarehouse({ id: 'wh_1', enabled: false, settings });
    const target = revertTarget();

    const reEnabled = await target.revert(event('Warehouses Disabled', { type: 'warehouse', id: 'wh_1' }));
    expect(reEnabled).toEqual({
      ok: true,
      inverseType: 'Warehouses Enabled',
      summary: 'Re-enabled warehouse wh_1',
      changes: { before: { enabled: false }, after: { enabled: true } },
    });
    expect(segment.getWarehouse('wh_1')).toMatchObject({ enabled: true, settings });

    const disabled = await target.revert(event('Warehouses Enabled', { type: 'warehouse', id: 'wh_1' }));
    expect(disabled).toMatchObject({
      ok: true,
      inverseType: 'Warehouses Disabled',
      changes: { before: { enabled: true }, after: { enabled: false } },
    });
    expect(segment.getWarehouse('wh_1')).toMatchObject({ enabled: false, settings });

    expect(received()).toEqual([
      { request: 'GET /warehouses/wh_1', authorization: bearer(), body: undefined },
      { request: 'PATCH /warehouses/wh_1', authorization: bearer(), body: { enabled: true, settings } },
      { request: 'GET /warehouses/wh_1', authorization: bearer(), body: undefined },
      { request: 'PATCH /warehouses/wh_1', authorization: bearer(), body: { enabled: false, settings } },
    ]);
  });

  it(
    'restores the name, enabled and settings of a modified source, ' +
      'destination and warehouse from changes.before, and nothing else',
    async () => {
      segment.setSource({ id: 'src_1', name: 'Website (new)', settings: { trackPages: false } });
      segment.setDestination({ id: 'dst_1', name: 'Webhook', enabled: true, settings: { url: 'https://new.example' } });
      segment.setWarehouse({ id: 'wh_1', name: 'Snowflake (new)', settings: { name: 'new', database: 'NEW' } });
      const target = revertTarget();
      // Fields outside the table's list (slug, labels, writeKeys) are what a producer may also record; they stay put.
      const sourceChanges = {
        before: { name: 'Website', settings: { trackPages: true }, slug: 'website', labels: [] },
        after: { name: 'Website (new)', settings: { trackPages: false }, slug: 'website-new', labels: [] },
      };

      const source = await target.revert(
        event('Source Modified', { type: 'source', id: 'src_1' }, { changes: sourceChanges }),
      );
      const destination = await target.revert(
        event(
          'Integrations Modified',
          { type: 'destination', id: 'dst_1' },
          {
            changes: {
              before: { enabled: false, settings: { url: 'https://old.example' } },
              after: { enabled: true, settings: { url: 'https://new.example' } },
            },
          },
        ),
      );
      const warehouse = await target.revert(
        event(
          'Warehouses Modified',
          { type: 'warehouse', id: 'wh_1' },
          {
            changes: {
              before: { name: 'Snowflake', settings: { name: 'old', database: 'OLD' } },
              after: { name: 'Snowflake (new)' },
            },
          },
        ),
      );

      expect(source).toEqual({
        ok: true,
        inverseType: 'Source Modified',
        summary: 'Restored name and settings of source src_1',
        changes: {
          before: { name: 'Website (new)', settings: { trackPages: false } },
          after: { name: 'Website', settings: { trackPages: true } },
        },
      });
      expect(destination).toMatchObject({
        ok: true,
        inverseType: 'Integrations Modified',
        summary: 'Restored enabled and settings of destination dst_1',
      });
      expect(warehouse).toMatchObject({
        ok: true,
        inverseType: 'Warehouses Modified',
        changes: {
          before: { name: 'Snowflake (new)' },
          after: { name: 'Snowflake', settings: { name: 'old', database: 'OLD' } },
        },
      });
      expect(received()).toEqual([
        {
          request: 'PATCH /sources/src_1',
          authorization: bearer(),
          body: { name: 'Website', settings: { trackPages: true } },
        },
        {
          request: 'PATCH /destinations/dst_1',
          authorization: bearer(),
          body: { enabled: false, settings: { url: 'https://old.example' } },
        },
        {
          request: 'PATCH /warehouses/wh_1',
          authorization: bearer(),
          body: { name: 'Snowflake', settings: { name: 'old', database: 'OLD' } },
        },
      ]);
      expect(segment.getSource('src_1')).toMatchObject({
        name: 'Website',
        slug: 'src_1',
        settings: { trackPages: true },
      });
      expect(segment.getDestination('dst_1')).toMatchObject({
        enabled: false,
        settings: { url: 'https://old.example' },
      });
      expect(segment.getWarehouse('wh_1')).toMatchObject({
        name: 'Snowflake',
        settings: { name: 'old', database: 'OLD' },
      });
    },
  );

  it('removes the settings keys a change added, by sending each as null, since Segment upserts settings', async () => {
    segment.setSource({ id: 'src_1', settings: { trackPages: false, apiHost: 'eu.example', keep: 1 } });
    segment.setDestination({ id: 'dst_1', settings: { url: 'https://new.example', headers: { a: 'b' } } });
    segment.setWarehouse({ id: 'wh_1', settings: { name: 'Prod', database: 'PROD', schema: 'added' } });
    const target = revertTarget();

    const source = await target.revert(
      event(
        'Source Modified',
        { type: 'source', id: 'src_1' },
        {
          changes: {
            before: { settings: { trackPages: true } },
            after: { settings: { trackPages: false, apiHost: 'eu.example' } },
          },
        },
      ),
    );
    await target.revert(
      event(
        'Integrations Modified',
        { type: 'destination', id: 'dst_1' },
        {
          changes: {
            before: { settings: { url: 'https://old.example' } },
            after: { settings: { url: 'https://new.example', headers: { a: 'b' } } },
          },
        },
      ),
    );
    await target.revert(
      event(
        'Warehouses Modified',
        { type: 'warehouse', id: 'wh_1' },
        {
          changes: {
            before: { settings: { name: 'Prod', database: 'PROD' } },
            after: { settings: { name: 'Prod', database: 'PROD', schema: 'added' } },
          },
        },
      ),
    );

    expect(source).toMatchObject({ ok: true, changes: { after: { settings: { trackPages: true } } } });
    expect(received().map((call) => call.body)).toEqual([
      { settings: { trackPages: true, apiHost: null } },
      { settings: { url: 'https://old.example', headers: null } },
      { settings: { name: 'Prod', database: 'PROD', schema: null } },
    ]);
    // Keys the change did not touch stay, as they would in Segment; the ones it added are gone.
    expect(segment.getSource('src_1')?.settings).toEqual({ trackPages: true, keep: 1 });
    expect(segment.getDestination('dst_1')?.settings).toEqual({ url: 'https://old.example' });
    expect(segment.getWarehouse('wh_1')?.settings).toEqual({ name: 'Prod', database: 'PROD' });
  });

  it(
    'sends a modified warehouse’s current settings along when changes.before has none, ' +
      'because Segment requires them',
    async () => {
      segment.setWarehouse({ id: 'wh_1', name: 'Snowflake (new)', settings: { name: 'Prod', database: 'PROD' } });

      const outcome = await revertTarget().revert(
        event(
          'Warehouses Modified',
          { type: 'warehouse', id: 'wh_1' },
          { changes: { before: { name: 'Snowflake' }, after: { name: 'Snowflake (new)' } } },
        ),
      );

      expect(outcome).toMatchObject({
        ok: true,
        changes: { before: { name: 'Snowflake (new)' }, after: { name: 'Snowflake' } },
      });
      expect(received()).toEqual([
        { request: 'GET /warehouses/wh_1', authorization: bearer(), body: undefined },
        {
          request: 'PATCH /warehouses/wh_1',
          authorization: bearer(),
          body: { name: 'Snowflake', settings: { name: 'Prod', database: 'PROD' } },
        },
      ]);
      expect(segment.getWarehouse('wh_1')).toMatchObject({
        name: 'Snowflake',
        settings: { name: 'Prod', database: 'PROD' },
      });
    },
  );

  it('restores a modified destination filter under the destination named in metadata.destinationId', async () => {
    segment.setFilter('dst_1', {
      id: 'flt_1',
      if: 'event = "B"',
      title: 'Drop B',
      enabled: false,
      actions: [{ type: 'DROP' }],
    });
    const before = {
      if: 'event = "A"',
      title: 'Drop A',
      description: 'was A',
      enabled: true,
      actions: [{ type: 'DROP_PROPERTIES', fields: { properties: ['email'] } }],
      sourceId: 'src_other',
    };
    const filterEvent = event(
      'Destination Filters Modified',
      { type: 'destination_filter', id: 'flt_1' },
      {
        changes: { before, after: { if: 'event = "B"', title: 'Drop B', enabled: false } },
        metadata: { destinationId: 'dst_1' },
      },
    );
    const target = revertTarget();

    expect(target.canRevert(filterEvent)).toBe(true);
    const outcome = await target.revert(filterEvent);

    expect(outcome).toMatchObject({
      ok: true,
      inverseType: 'Destination Filters Modified',
      summary: 'Restored enabled, if, actions, title and description of destination filter flt_1 of destination dst_1',
    });
    const { sourceId: _notListed, ...listed } = before;
    expect(received()).toEqual([
      { request: 'PATCH /destination/dst_1/filters/flt_1', authorization: bearer(), body: listed },
    ]);
    expect(segment.getFilter('dst_1', 'flt_1')).toMatchObject({ ...listed, sourceId: 'src_fake' });
  });

  it('re-enables a disabled destination filter and disables an enabled one, each the other’s inverse', async () => {
    segment.setFilter('dst_1', { id: 'df_1', enabled: false });
    const target = revertTarget();
    // Audit Forwarding names the filter by its path; the PATCH takes its last part.
    const resource = {
      type: 'destination_filter',
      id: 'workspaces/acme/sources/web/destinations/webhooks/filters/df_1',
    };

    const disabled = event('Destination Filters Disabled', resource, { metadata: { destinationId: 'dst_1' } });
    expect(target.canRevert(disabled)).toBe(true);
    expect(await target.revert(disabled)).toEqual({
      ok: true,
      inverseType: 'Destination Filters Enabled',
      summary: 'Re-enabled destination filter df_1 of destination dst_1',
      changes: { before: { enabled: false }, after: { enabled: true } },
    });
    expect(segment.getFilter('dst_1', 'df_1')?.enabled).toBe(true);

    const enabled = event(
      'Destination Filters Enabled',
      { type: 'destination_filter', id: 'df_1' },
      { metadata: { destinationId: 'dst_1' } },
    );
    expect(await target.revert(enabled)).toMatchObject({ ok: true, inverseType: 'Destination Filters Disabled' });
    expect(received()).toEqual([
      { request: 'PATCH /destination/dst_1/filters/df_1', authorization: bearer(), body: { enabled: true } },
      { request: 'PATCH /destination/dst_1/filters/df_1', authorization: bearer(), body: { enabled: false } },
    ]);
    expect(segment.getFilter('dst_1', 'df_1')?.enabled).toBe(false);
    expect(target.canRevert(event('Destination Filters Disabled', resource))).toBe(false);
  });

  it('reverts an event stored under Segment’s wire name as its catalog type', async () => {
    segment.setWarehouse({ id: 'wh_wire', enabled: false, settings: { name: 'Prod' } });
    const outcome = await revertTarget().revert(event('Warehouse Disabled', { type: 'warehouse', id: 'wh_wire' }));
    expect(outcome).toMatchObject({ ok: true, inverseType: 'Warehouses Enabled' });
    expect(received().map((call) => call.request)).toEqual(['GET /warehouses/wh_wire', 'PATCH /warehouses/wh_wire']);
  });

  it(
    'refuses, readably and without calling Segment, ' + 'a destination filter event without metadata.destinationId',
    async () => {
      segment.setFilter('dst_1', { id: 'flt_1' });
      const target = revertTarget();
      const filterEvent = event(
        'Destination Filters Modified',
        { type: 'destination_filter', id: 'flt_1' },
        {
          changes: { before: { title: 'Old' }, after: { title: 'New' } },
          metadata: { sourceId: 'src_1' },
        },
      );

      expect(target.canRevert(filterEvent)).toBe(false);
      const failure = expectFailure(await target.revert(filterEvent));

      expect(failure).toEqual({
        ok: false,
        retryable: false,
        reason: expect.stringContaining('metadata.destinationId'),
      });
      expect(failure.reason).toContain('flt_1');
      expect(segment.calls).toEqual([]);
    },
  );

  it(
    'restores the code, settings, display name and description ' + 'of a modified source or destination function',
    async () => {
      const settings = [
        { name: 'apiKey', label: 'API key', type: 'STRING', sensitive: true, required: true, description: '' },
      ];
      segment.setFunction({ id: 'sfn_1', code: 'new()', displayName: 'New source fn' });
      segment.setFunction({ id: 'dfn_1', resourceType: 'DESTINATION', code: 'new()', description: 'new' });
      const target = revertTarget();

      const sourceFn = await target.revert(
        event(
          'Source Function Modified',
          { type: 'function', id: 'sfn_1' },
          {
            changes: {
              before: { code: 'old()', displayName: 'Old source fn', settings, deployedAt: '2026-01-01' },
              after: { code: 'new()' },
            },
          },
        ),
      );
      const destinationFn = await target.revert(
        event(
          'Destination Function Modified',
          { type: 'function', id: 'dfn_1' },
          {
            changes: { before: { code: 'old()', description: 'old' }, after: { code: 'new()', description: 'new' } },
          },
        ),
      );

      expect(sourceFn).toMatchObject({
        ok: true,
        inverseType: 'Source Function Modified',
        summary: 'Restored code, settings and displayName of function sfn_1',
      });
      expect(destinationFn).toMatchObject({
        ok: true,
        inverseType: 'Destination Function Modified',
        changes: { before: { code: 'new()', description: 'new' }, after: { code: 'old()', description: 'old' } },
      });
      expect(received()).toEqual([
        {
          request: 'PATCH /functions/sfn_1',
          authorization: bearer(),
          body: { code: 'old()', settings, displayName: 'Old source fn' },
        },
        { request: 'PATCH /functions/dfn_1', authorization: bearer(), body: { code: 'old()', description: 'old' } },
      ]);
      expect(segment.getFunction('sfn_1')).toMatchObject({
        code: 'old()',
        displayName: 'Old source fn',
        settings,
        deployedAt: null,
      });
      expect(segment.getFunction('dfn_1')).toMatchObject({ code: 'old()', description: 'old' });
    },
  );

  it('restores the name and description of a modified tracking plan', async () => {
    segment.setTrackingPlan({ id: 'tp_1', name: 'Checkout v2', description: 'new' });

    const outcome = await revertTarget().revert(
      event(
        'Tracking Plan Modified',
        { type: 'tracking_plan', id: 'tp_1' },
        {
          changes: {
            before: { name: 'Checkout', description: 'old', rules: [] },
            after: { name: 'Checkout v2', description: 'new' },
          },
        },
      ),
    );

    expect(outcome).toEqual({
      ok: true,
      inverseType: 'Tracking Plan Modified',
      summary: 'Restored name and description of tracking plan tp_1',
      changes: { before: { name: 'Checkout v2', description: 'new' }, after: { name: 'Checkout', description: 'old' } },
    });
    expect(received()).toEqual([
      {
        request: 'PATCH /tracking-plans/tp_1',
        authorization: bearer(),
        body: { name: 'Checkout', description: 'old' },
      },
    ]);
    expect(segment.getTrackingPlan('tp_1')).toMatchObject({ name: 'Checkout', description: 'old' });
  });

  it(
    'puts a resource id that is not a plain path segment into the path encoded, ' +
      'so it cannot reach another resource',
    async () => {
      segment.setSource({ id: '../destinations/dst_1', enabled: false });

      const outcome = await revertTarget().revert(
        event('Source Disabled', { type: 'source', id: '../destinations/dst_1' }),
      );

      expect(outcome.ok).toBe(true);
      expect(segment.calls[0]?.path).toBe('/sources/..%2Fdestinations%2Fdst_1');
      expect(segment.getSource('../destinations/dst_1')?.enabled).toBe(true);
    },
  );
});

describe('events the Segment target does not revert', () => {
  it('does not revert any Created or Deleted event, and says why', async () => {
    const target = revertTarget();
    const types = EVENT_TYPES.filter((type) => / (Created|Deleted)$/.test(type));
    expect(types).toEqual(
      expect.arrayContaining([
        'Source Created',
        'Warehouses Deleted',
        'Destination Filters Deleted',
        'Tracking Plan Created',
      ]),
    );

    for (const type of types) {
      const created = event(
        type,
        { type: 'source', id: 'src_1' },
        { changes: { before: { name: 'x' }, after: { name: 'y' } } },
      );
      expect(target.canRevert(created), type).toBe(false);
      const failure = expectFailure(await target.revert(created));
      expect(failure.retryable).toBe(false);
      expect(failure.reason).toContain('not revertible');
    }
    expect(segment.calls).toEqual([]);
  });

  it(
    'does not revert a Modified event without changes.before, ' +
      'or whose changes.before has none of the listed fields',
    async () => {
      const target = revertTarget();
      const modifiedTypes = Object.entries(REVERT_MAP).flatMap(([type, plan]) =>
        plan.kind === 'restore' ? [type] : [],
      );
      expect(modifiedTypes).toHaveLength(7);

      for (const type of modifiedTypes) {
        for (const changes of [null, { after: { name: 'y' } }, { before: {} }, { before: { slug: 'unlisted' } }]) {
          const modified = event(type, { type: 'x', id: 'id_1' }, { changes, metadata: { destinationId: 'dst_1' } });
          expect(target.canRevert(modified), `${type} ${JSON.stringify(changes)}`).toBe(false);
          const failure = expectFailure(await target.revert(modified));
          expect(failure).toEqual({ ok: false, retryable: false, reason: expect.stringContaining('changes.before') });
        }
      }
      expect(segment.calls).toEqual([]);
    },
  );

  it('does not revert types outside the revert table', async () => {
    const target = revertTarget();
    for (const type of ['Warehouse Run Failed', 'Audience Modified', 'Something Custom']) {
      expect(target.canRevert(event(type, { type: 'x', id: 'id_1' }, { changes: { before: { name: 'x' } } }))).toBe(
        false,
      );
      expect(expectFailure(await target.revert(event(type, { type: 'x', id: 'id_1' }))).reason).toContain(
        'cannot be reverted',
      );
    }
  });
});

describe('when Segment answers with an error', () => {
  it('waits out a 429 for the seconds in Retry-After and then succeeds', async () => {
    segment.setSource({ id: 'src_1', enabled: false });
    segment.failNext('PATCH /sources/src_1', { status: 429, retryAfter: 1 });

    const outcome = await revertTarget().revert(event('Source Disabled', { type: 'source', id: 'src_1' }));

    expect(outcome).toMatchObject({ ok: true, inverseType: 'Source Enabled' });
    const [limited, retried] = segment.callsTo('PATCH /sources/src_1');
    expect(segment.callsTo('*')).toHaveLength(2);
    expect(retried!.at - limited!.at).toBeGreaterThanOrEqual(950);
    expect(retried!.body).toEqual({ enabled: true });
    expect(segment.getSource('src_1')?.enabled).toBe(true);
  });

  it('gives up, as retryable, when Segment keeps answering 429', async () => {
    segment.setSource({ id: 'src_1', enabled: false });
    for (let i = 0; i < 4; i++) segment.failNext('PATCH /sources/src_1', { status: 429, retryAfter: 0 });

    const failure = expectFailure(
      await revertTarget().revert(event('Source Disabled', { type: 'source', id: 'src_1' })),
    );

    expect(failure.retryable).toBe(true);
    expect(failure.reason).toMatch(/rate-limiting .*\(429\) after 3 retries/);
    expect(segment.callsTo('PATCH /sources/src_1')).toHaveLength(4);
    expect(segment.getSource('src_1')?.enabled).toBe(false);
  });

  it('says which resource Segment does not know on a 404, and does not retry it', async () => {
    const target = revertTarget();

    const warehouse = expectFailure(
      await target.revert(event('Warehouses Disabled', { type: 'warehouse', id: 'wh_1' })),
    );
    const source = expectFailure(await target.revert(event('Source Enabled', { type: 'source', id: 'src_gone' })));

    expect(warehouse).toEqual({
      ok: false,
      retryable: false,
      reason: 'Segment says the warehouse wh_1 does not exist (404)',
    });
    expect(source).toEqual({
      ok: false,
      retryable: false,
      reason: 'Segment says the source src_gone does not exist (404)',
    });
    expect(received().map((call) => call.request)).toEqual(['GET /warehouses/wh_1', 'PATCH /sources/src_gone']);
  });

  it('passes on Segment’s validation message for a 422, and does not retry it', async () => {
    segment.setTrackingPlan({ id: 'tp_1', name: 'Checkout v2' });

    const failure = expectFailure(
      await revertTarget().revert(
        event(
          'Tracking Plan Modified',
          { type: 'tracking_plan', id: 'tp_1' },
          { changes: { before: { name: 42 }, after: { name: 'Checkout v2' } } },
        ),
      ),
    );

    expect(failure).toEqual({
      ok: false,
      retryable: false,
      reason: 'Segment rejected the change: Field "name" must be string (422)',
    });
    expect(segment.calls).toHaveLength(1);
    expect(segment.getTrackingPlan('tp_1')?.name).toBe('Checkout v2');
  });

  it('retries a 503 twice with backoff and succeeds on the third attempt', async () => {
    segment.setDestination({ id: 'dst_1', enabled: false });
    segment.failNext('PATCH /destinations/dst_1', { status: 503 });
    segment.failNext('PATCH /destinations/dst_1', { status: 503 });

    const outcome = await revertTarget().revert(event('Integrations Disabled', { type: 'destination', id: 'dst_1' }));

    expect(outcome).toMatchObject({ ok: true, inverseType: 'Integrations Enabled' });
    const attempts = segment.callsTo('PATCH /destinations/dst_1');
    expect(attempts).toHaveLength(3);
    expect(attempts[2]!.at - attempts[1]!.at).toBeGreaterThan(attempts[1]!.at - attempts[0]!.at - 50);
    expect(segment.getDestination('dst_1')?.enabled).toBe(true);
  });

  it('gives up, as retryable, after a 503 on every attempt', async () => {
    segment.setDestination({ id: 'dst_1', enabled: false });
    for (let i = 0; i < 3; i++) segment.failNext('PATCH /destinations/dst_1', { status: 503 });

    const failure = expectFailure(
      await revertTarget({ retry: { baseDelayMs: 10 } }).revert(
        event('Integrations Disabled', { type: 'destination', id: 'dst_1' }),
      ),
    );

    expect(failure.retryable).toBe(true);
    expect(failure.reason).toContain('Segment had a server error (503)');
    expect(failure.reason).toContain('gave up after 3 attempts');
    expect(segment.callsTo('*')).toHaveLength(3);
  });

  it('never puts the API token in a failure reason or the log, even when Segment echoes it back', async () => {
    segment.setSource({ id: 'src_1', enabled: false });
    segment.failNext('PATCH /sources/src_1', {
      status: 403,
      body: { errors: [{ type: 'forbidden', message: `Token ${segment.apiToken} lacks the Source Admin role` }] },
    });
    const wrongToken = 'sgp_not_the_right_one_5f2a';

    const echoed = expectFailure(
      await revertTarget().revert(event('Source Disabled', { type: 'source', id: 'src_1' })),
    );
    const refused = expectFailure(
      await revertTarget({ apiToken: wrongToken }).revert(event('Source Disabled', { type: 'source', id: 'src_1' })),
    );
    const unreachable = expectFailure(
      await revertTarget({ apiUrl: await unusedLocalUrl(), retry: { baseDelayMs: 10 } }).revert(
        event('Source Disabled', { type: 'source', id: 'src_1' }),
      ),
    );

    expect(echoed).toEqual({
      ok: false,
      retryable: false,
      reason: 'the Segment API token was refused (403): Token [redacted] lacks the Source Admin role',
    });
    expect(refused.reason).toMatch(/^the Segment API token was refused \(401\)/);
    expect(unreachable).toMatchObject({ retryable: true, reason: expect.stringContaining('could not reach Segment') });
    for (const reason of [echoed.reason, refused.reason, unreachable.reason]) {
      expect(reason).not.toContain(segment.apiToken);
      expect(reason).not.toContain(wrongToken);
    }
    expect(logLines.length).toBeGreaterThan(0);
    expect(logLines.join('\n')).not.toContain(segment.apiToken);
    expect(logLines.join('\n')).not.toContain(wrongToken);
  });
});
