import { and, eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/logger.ts';
import { createSegmentRevertTarget } from '../../src/revert/segment.ts';
import type { RevertTarget } from '../../src/revert/types.ts';
import { type RevertDeps, type RevertRequest, revertEvent } from '../../src/revert/workflow.ts';
import { appendEventsTx } from '../../src/store/append.ts';
import { createDb, type Database } from '../../src/store/db.ts';
import { getEvent } from '../../src/store/queries.ts';
import { ABANDONED_CLAIM_MS } from '../../src/store/reverts.ts';
import { reverts } from '../../src/store/schema/index.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { type FakeSegment, startFakeSegment } from '../helpers/fake-segment.ts';

const WORKSPACE = 'ws_revert';
let testDatabase: TestDatabase;
let database: Database;
let segment: FakeSegment;
let deps: RevertDeps;

beforeAll(async () => {
  testDatabase = await createTestDatabase();
  database = createDb(testDatabase.url);
  segment = await startFakeSegment();
  const logger = createLogger('silent');
  deps = {
    db: database.db,
    target: createSegmentRevertTarget({ apiUrl: segment.publicApiUrl, apiToken: segment.apiToken, logger }),
    logger,
  };
});

afterAll(async () => {
  await database?.close();
  await segment?.close();
  await testDatabase?.drop();
});

async function storeSourceDisabled(id: string, sourceId: string): Promise<void> {
  segment.setSource({ id: sourceId, enabled: false });
  await appendEventsTx(database.db, WORKSPACE, [
    {
      id,
      type: 'Source Disabled',
      actor: { type: 'user', id: 'usr_oops' },
      resource: { type: 'source', id: sourceId },
    },
  ]);
}

function request(eventId: string, userId = 'U0OWNER1'): RevertRequest {
  return { workspaceId: WORKSPACE, eventId, user: { id: userId, name: 'jane' }, context: { via: 'test' } };
}

async function claimRow(eventId: string) {
  const [row] = await database.db
    .select()
    .from(reverts)
    .where(and(eq(reverts.workspaceId, WORKSPACE), eq(reverts.eventId, eventId)));
  return row;
}

describe('revertEvent', () => {
  it('undoes the event once, records the inverse with the requester, and marks the claim done with it', async () => {
    await storeSourceDisabled('wf_once', 'src_once');
    const result = await revertEvent(deps, request('wf_once'));
    expect(result).toMatchObject({ status: 'reverted', summary: expect.any(String) });
    const revertEventId = (result as { revertEventId: string }).revertEventId;
    expect(await getEvent(database.db, WORKSPACE, revertEventId)).toMatchObject({
      type: 'Source Enabled',
      actor: { type: 'user', id: 'U0OWNER1', name: 'jane' },
      resource: { type: 'source', id: 'src_once' },
      context: { via: 'test' },
      metadata: { revertOf: 'wf_once', revertedType: 'Source Disabled' },
    });
    expect(await claimRow('wf_once')).toMatchObject({ status: 'done', revertEventId, requestedBy: 'U0OWNER1' });

    const again = await revertEvent(deps, request('wf_once', 'U0OWNER2'));
    expect(again).toEqual({ status: 'already_reverted', by: 'U0OWNER1' });
    expect(segment.callsTo('PATCH /sources/src_once')).toHaveLength(1);
  });

  it('answers not_found for an event not in the workspace, and not_revertible where no target undoes it', async () => {
    expect(await revertEvent(deps, request('wf_missing'))).toEqual({ status: 'not_found' });
    await appendEventsTx(database.db, WORKSPACE, [
      {
        id: 'wf_deleted',
        type: 'Source Deleted',
        actor: { type: 'user', id: 'u' },
        resource: { type: 'source', id: 'src_gone' },
      },
    ]);
    const deleted = await revertEvent(deps, request('wf_deleted'));
    expect(deleted).toEqual({ status: 'not_revertible', eventType: 'Source Deleted' });
    await storeSourceDisabled('wf_no_target', 'src_no_target');
    expect(await revertEvent({ ...deps, target: undefined }, request('wf_no_target'))).toEqual({
      status: 'not_revertible',
      eventType: 'Source Disabled',
    });
    expect(await claimRow('wf_no_target')).toBeUndefined();
  });

  it('records a failure as a value, marks the claim failed, and lets a later request try again', async () => {
    await storeSourceDisabled('wf_fail', 'src_fail');
    segment.failNext('PATCH /sources/src_fail', { status: 404 });
    const failed = await revertEvent(deps, request('wf_fail'));
    expect(failed).toMatchObject({ status: 'failed', reason: expect.stringContaining('404') });
    expect(await claimRow('wf_fail')).toMatchObject({ status: 'failed', revertEventId: null });
    expect(await revertEvent(deps, request('wf_fail'))).toMatchObject({ status: 'reverted' });
  });

  it('turns a target that throws into a readable failure, and shows the claim in progress to others', async () => {
    await storeSourceDisabled('wf_throws', 'src_throws');
    let release!: () => void;
    let enter!: () => void;
    const entered = new Promise<void>((resolve) => (enter = resolve));
    const throwing: RevertTarget = {
      name: 'throwing',
      canRevert: () => true,
      revert: async () => {
        enter();
        await new Promise<void>((resolve) => (release = resolve));
        throw new Error('boom');
      },
    };
    const first = revertEvent({ ...deps, target: throwing }, request('wf_throws'));
    await entered;
    const second = await revertEvent({ ...deps, target: throwing }, request('wf_throws', 'U0OWNER2'));
    expect(second).toEqual({ status: 'in_progress', by: 'U0OWNER1' });
    release();
    expect(await first).toEqual({ status: 'failed', reason: 'an unexpected error; see the service log' });
  });

  it('takes over a claim left in progress by a process that died, once it is older than any live revert', async () => {
    await storeSourceDisabled('wf_orphan', 'src_orphan');
    // A claim whose process died between the claim and the outcome: recent, it still reads as in progress.
    await database.db.insert(reverts).values({
      workspaceId: WORKSPACE,
      eventId: 'wf_orphan',
      status: 'in_progress',
      requestedBy: 'U0GONE',
      startedAt: new Date(Date.now() - ABANDONED_CLAIM_MS + 60_000),
    });
    expect(await revertEvent(deps, request('wf_orphan'))).toEqual({ status: 'in_progress', by: 'U0GONE' });
    expect(segment.callsTo('PATCH /sources/src_orphan')).toHaveLength(0);

    await database.db
      .update(reverts)
      .set({ startedAt: new Date(Date.now() - ABANDONED_CLAIM_MS - 1000) })
      .where(and(eq(reverts.workspaceId, WORKSPACE), eq(reverts.eventId, 'wf_orphan')));
    expect(await revertEvent(deps, request('wf_orphan'))).toMatchObject({ status: 'reverted' });
    expect(await claimRow('wf_orphan')).toMatchObject({ status: 'done', requestedBy: 'U0OWNER1' });
    expect(segment.callsTo('PATCH /sources/src_orphan')).toHaveLength(1);
  });
});
