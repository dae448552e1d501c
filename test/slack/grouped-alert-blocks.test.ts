/** The grouped alert's blocks built from a summary alone: producer text in them is made inert, as on a single alert. */
import { describe, expect, it } from 'vitest';
import { buildGroupedAlertMessage } from '../../src/slack/blocks/grouped-alert.ts';
import type { GroupSummary } from '../../src/store/alert-groups.ts';
import type { AlertGroupRow } from '../../src/store/schema/index.ts';

const HOSTILE_TYPE = 'Custom <!channel> & <@U0BOSS> Event';

function summary(): GroupSummary {
  const at = new Date('2026-11-25T10:00:00.000Z');
  const group = {
    id: 7,
    workspaceId: 'acme',
    ruleId: 'custom-events',
    channel: '#alerts',
    severity: 'warning',
    kind: 'rule',
    groupBy: 'actor.id',
    groupValue: 'usr_1',
    groupKey: 'acme|usr_1',
    withinMs: 60_000,
    status: 'open',
    count: 2,
    firstReceivedAt: at,
    lastReceivedAt: at,
    closesAt: new Date(at.getTime() + 60_000),
    headEventId: 'evt_1',
    revertRun: 0,
    revertState: null,
  } as unknown as AlertGroupRow;
  return {
    group,
    firstAt: at.toISOString(),
    latestAt: at.toISOString(),
    actorCount: 1,
    actors: [{ type: 'user', id: 'usr_1', name: null, email: null }],
    resourceCount: 1,
    resources: [{ type: 'thing', id: 'th_1', name: null }],
    types: [{ type: HOSTILE_TYPE, count: 2 }],
    reverted: 0,
    covered: 0,
    run: {},
    failed: 0,
    failures: [],
  };
}

describe('buildGroupedAlertMessage', () => {
  it('escapes the event type in its header, as the single alert does', () => {
    const rule = { id: 'custom-events', severity: 'warning', mention: [], revert: false } as const;
    const message = buildGroupedAlertMessage({ summary: summary(), rule, revertEnabled: false });
    const header = message.blocks.find((block) => block.type === 'header') as { text: { text: string } };
    expect(header.text.text).toBe('2 × Custom &lt;!channel&gt; &amp; &lt;@U0BOSS&gt; Event');
    expect(JSON.stringify(message.blocks)).not.toMatch(/<!channel>|<@U0BOSS>/);
  });
});
