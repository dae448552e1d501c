import { LogLevel, WebClient } from '@slack/web-api';
import { describe, expect, it } from 'vitest';
import {
  type AlertMessage,
  type AlertRule,
  BLOCK_KIT_LIMITS,
  buildAlertMessage,
  parseAlertButtonValue,
  SILENCE_DURATIONS,
  withAlertStatus,
  withoutAlertControl,
} from '../../src/slack/blocks/alert.ts';
import {
  ACKNOWLEDGE_ACTION,
  OPEN_LINK_ACTION,
  REVERT_ACTION,
  SHOW_TRAIL_ACTION,
  SILENCE_ACTION,
} from '../../src/slack/ids.ts';
import { resourceUrl } from '../../src/slack/resource-links.ts';
import { startFakeSlack } from '../helpers/fake-slack.ts';
import { storedEvent } from '../helpers/stored-event.ts';

const event = storedEvent;

const rule: AlertRule = {
  id: 'warehouse-disabled',
  description: 'A warehouse was disabled',
  severity: 'critical',
  mention: [],
  revert: true,
};

interface TextObject {
  type: string;
  text: string;
}
interface ButtonLike {
  type: string;
  action_id?: string;
  value?: string;
  url?: string;
  style?: string;
  text: TextObject;
  confirm?: { title: TextObject; text: TextObject; confirm: TextObject; deny: TextObject; style?: string };
  placeholder?: TextObject;
  options?: { text: TextObject; value: string }[];
}

/** Every text object in the message, with the Block Kit limit that applies to it. */
function textsWithLimits(message: AlertMessage): { text: string; limit: number }[] {
  const found: { text: string; limit: number }[] = [];
  for (const block of message.blocks as unknown as Record<string, unknown>[]) {
    if (block.type === 'header')
      found.push({ text: (block.text as TextObject).text, limit: BLOCK_KIT_LIMITS.headerText });
    if (block.type === 'section') {
      if (block.text) found.push({ text: (block.text as TextObject).text, limit: BLOCK_KIT_LIMITS.sectionText });
      for (const field of (block.fields as TextObject[] | undefined) ?? [])
        found.push({ text: field.text, limit: BLOCK_KIT_LIMITS.fieldText });
    }
    if (block.type === 'context') {
      for (const element of block.elements as TextObject[])
        found.push({ text: element.text, limit: BLOCK_KIT_LIMITS.contextText });
    }
    if (block.type === 'actions') {
      for (const button of block.elements as ButtonLike[]) {
        if (button.type === 'static_select') {
          found.push({ text: button.placeholder!.text, limit: BLOCK_KIT_LIMITS.selectPlaceholder });
          for (const option of button.options!) {
            found.push({ text: option.text.text, limit: BLOCK_KIT_LIMITS.optionText });
            found.push({ text: option.value, limit: BLOCK_KIT_LIMITS.optionValue });
          }
          continue;
        }
        found.push({ text: button.text.text, limit: BLOCK_KIT_LIMITS.buttonText });
        found.push({ text: button.value ?? '', limit: BLOCK_KIT_LIMITS.buttonValue });
        if (button.confirm) {
          found.push({ text: button.confirm.title.text, limit: BLOCK_KIT_LIMITS.confirmTitle });
          found.push({ text: button.confirm.text.text, limit: BLOCK_KIT_LIMITS.confirmText });
          found.push({ text: button.confirm.confirm.text, limit: BLOCK_KIT_LIMITS.confirmButton });
          found.push({ text: button.confirm.deny.text, limit: BLOCK_KIT_LIMITS.confirmButton });
        }
      }
    }
  }
  return found;
}

function controls(message: AlertMessage): ButtonLike[] {
  const actions = (message.blocks as unknown as Record<string, unknown>[]).find((b) => b.type === 'actions');
  return (actions?.elements as ButtonLike[] | undefined) ?? [];
}

function control(message: AlertMessage, actionId: string): ButtonLike | undefined {
  return controls(message).find((c) => c.action_id === actionId);
}

const ids = (message: AlertMessage) => controls(message).map((c) => c.action_id);

/** Every `<…>` Slack would parse, in blocks and fallback text alike. */
function controlSequences(message: AlertMessage): string[] {
  return [...JSON.stringify({ text: message.text, blocks: message.blocks }).matchAll(/<[^<>]*>/g)].map((m) => m[0]);
}

describe('buildAlertMessage', () => {
  it('shows the event type as header and actor, resource, workspace, time, rule and severity as fields', () => {
    const message = buildAlertMessage({ event: event(), rule, revertEnabled: true });

    expect(message.blocks[0]).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: 'Warehouses Disabled', emoji: true },
    });
    const fields = (message.blocks[1] as { fields: TextObject[] }).fields.map((f) => f.text);
    expect(fields).toEqual([
      '*Actor*\nJane Doe (jane@acme.com) · user',
      '*Resource*\nProd Snowflake\nwarehouse · `wh_1`',
      '*Workspace*\n`ws_1`',
      '*Time*\n<!date^1795600800^{date_short_pretty} {time}|2026-11-25T10:00:00.000Z>',
      '*Rule*\n`warehouse-disabled` — A warehouse was disabled',
      '*Severity*\n:rotating_light: critical',
    ]);
    expect(JSON.stringify(message.blocks)).toContain('• *enabled*: `true` → `false`');
  });

  it('keeps internal ids (event id, actor id, seq) out of the fields, in the context line', () => {
    const message = buildAlertMessage({ event: event(), rule, revertEnabled: true });
    const fields = JSON.stringify((message.blocks[1] as { fields: TextObject[] }).fields);
    expect(fields).not.toContain('evt_01');
    expect(fields).not.toContain('usr_1');
    const context = message.blocks.find((b) => b.type === 'context') as { elements: TextObject[] };
    expect(context.elements[0]!.text).toBe('Event `evt_01` · actor `usr_1` · Warehouses · seq 42');
  });

  it('shows the actor as a Slack mention when their email belongs to a Slack user', () => {
    const message = buildAlertMessage({ event: event(), rule, revertEnabled: true, actorSlackUserId: 'U0JANE' });
    const fields = (message.blocks[1] as { fields: TextObject[] }).fields;
    expect(fields[0]!.text).toBe('*Actor*\n<@U0JANE> (Jane Doe) · user');
    // Only an ID Slack could have given becomes markup.
    const forged = buildAlertMessage({ event: event(), rule, revertEnabled: true, actorSlackUserId: 'U1> <!channel' });
    expect(JSON.stringify(forged.blocks)).not.toContain('<!channel');
  });

  it('shows an actor with neither name nor email by id', () => {
    const tokenEvent = event({ actor: { type: 'token', id: 'tok_9' } });
    const message = buildAlertMessage({ event: tokenEvent, rule, revertEnabled: true });
    expect((message.blocks[1] as { fields: TextObject[] }).fields[0]!.text).toBe('*Actor*\n`tok_9` · token');
  });

  it('gives notifications a fallback text naming type, resource and actor', () => {
    const message = buildAlertMessage({ event: event(), rule, revertEnabled: true });
    expect(message.text).toBe(':rotating_light: Warehouses Disabled: Prod Snowflake by Jane Doe');
  });

  it('escapes hostile producer text so it pings nobody and links nowhere', () => {
    const hostile = event({
      type: 'Source Modified <!everyone>',
      actor: { type: 'token', id: '<@U999>', name: '<https://evil.example|click me>', email: 'a&b@x.io' },
      resource: { type: 'source', id: 'src_1', name: '<!channel> & <@U123>' },
      changes: { before: { name: '<!here>', settings: { '<#C1>': '&' } }, after: { name: 'ok' } },
      category: 'Source',
    });

    const message = buildAlertMessage({ event: hostile, rule, revertEnabled: true });

    // The only markup left is the date token we built ourselves.
    expect(controlSequences(message)).toEqual([
      '<!date^1795600800^{date_short_pretty} {time}|2026-11-25T10:00:00.000Z>',
    ]);
    const everything = JSON.stringify(message);
    expect(everything).toContain('&lt;!channel&gt; &amp; &lt;@U123&gt;');
    expect(everything).toContain('&lt;https://evil.example|click me&gt;');
    expect(everything).toContain('&lt;!here&gt;');
    expect(everything).toContain('a&amp;b@x.io');
    expect(message.text).toBe(
      ':rotating_light: Source Modified &lt;!everyone&gt;: &lt;!channel&gt; &amp; &lt;@U123&gt; ' +
        'by &lt;https://evil.example|click me&gt;',
    );
  });

  it('keeps producer text on one line, so a name cannot add a line that reads like ours', () => {
    const forged = event({
      actor: { type: 'user', id: 'usr_1', name: 'Jane\n*Reverted by @owner*', email: 'jane@acme.com' },
      resource: { type: 'warehouse', id: 'wh_1', name: 'Prod\r\n\n:white_check_mark: Acknowledged' },
    });
    const fields = (
      buildAlertMessage({ event: forged, rule, revertEnabled: true }).blocks[1] as { fields: TextObject[] }
    ).fields;
    expect(fields[0]!.text).toBe('*Actor*\nJane *Reverted by @owner* (jane@acme.com) · user');
    expect(fields[1]!.text).toBe('*Resource*\nProd :white_check_mark: Acknowledged\nwarehouse · `wh_1`');
  });

  it('marks every mrkdwn text verbatim, so bare names and URLs are not turned into links', () => {
    const message = buildAlertMessage({ event: event(), rule, revertEnabled: true });
    const mrkdwn: Record<string, unknown>[] = [];
    JSON.stringify(message.blocks, (_key, value: unknown) => {
      if (value && typeof value === 'object' && (value as { type?: unknown }).type === 'mrkdwn')
        mrkdwn.push(value as Record<string, unknown>);
      return value;
    });
    expect(mrkdwn.length).toBeGreaterThan(5);
    for (const object of mrkdwn) expect(object.verbatim).toBe(true);
  });

  it('posts the rule’s mentions as written, in the text and in a section', () => {
    const message = buildAlertMessage({
      event: event(),
      rule: { ...rule, mention: ['<!subteam^S0123>', '<@U42>'] },
      revertEnabled: true,
    });

    expect(message.text.startsWith('<!subteam^S0123> <@U42> ')).toBe(true);
    expect(message.blocks).toContainEqual({
      type: 'section',
      text: { type: 'mrkdwn', text: '<!subteam^S0123> <@U42>', verbatim: true },
    });
  });

  it('truncates a 100 KB field, name and change to fit Block Kit', () => {
    const huge = 'x'.repeat(100 * 1024);
    const message = buildAlertMessage({
      event: event({
        type: `Type ${huge}`,
        actor: { type: 'user', id: `usr_${huge}`, name: huge },
        resource: { type: 'warehouse', id: 'wh_1', name: `<${huge}>` },
        changes: {
          before: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`field_${i}`, huge])),
          after: { settings: huge },
        },
      }),
      rule: { ...rule, description: huge },
      revertEnabled: true,
    });

    for (const { text, limit } of textsWithLimits(message)) {
      expect(text.length).toBeLessThanOrEqual(limit);
      expect(text.isWellFormed()).toBe(true);
    }
    expect(message.text.length).toBeLessThanOrEqual(3000);
    expect(JSON.stringify(message.blocks)).toContain('…');
    expect(JSON.stringify(message.blocks)).toMatch(/…and \d+ more/);
  });

  it('stays within Block Kit’s block count and text limits for a full alert', () => {
    const message = buildAlertMessage({
      event: event(),
      rule: { ...rule, mention: ['<!subteam^S1>'] },
      revertEnabled: true,
    });

    expect(message.blocks.length).toBeLessThan(BLOCK_KIT_LIMITS.blocksPerMessage);
    const fields = (message.blocks[1] as { fields: unknown[] }).fields;
    expect(fields.length).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.fieldsPerSection);
    for (const { text, limit } of textsWithLimits(message)) expect(text.length).toBeLessThanOrEqual(limit);
  });

  it('is accepted by chat.postMessage, metadata included', async () => {
    const slack = await startFakeSlack();
    try {
      const client = new WebClient('xoxb-test', { slackApiUrl: slack.url, logLevel: LogLevel.ERROR });
      const huge = 'y'.repeat(100 * 1024);
      const message = buildAlertMessage({
        event: event({
          resource: { type: 'warehouse', id: 'wh_1', name: huge },
          changes: { before: { settings: huge }, after: {} },
        }),
        rule,
        revertEnabled: true,
      });

      const posted = await client.chat.postMessage({ channel: '#data-alerts', ...message });

      const history = await client.conversations.history({ channel: posted.channel!, include_all_metadata: true });
      expect(history.messages?.[0]?.metadata).toEqual(message.metadata);
    } finally {
      await slack.close();
    }
  });

  it('carries workspace, event and rule in the message metadata', () => {
    const message = buildAlertMessage({ event: event(), rule, revertEnabled: false });
    expect(message.metadata).toEqual({
      event_type: 'audit_alert',
      event_payload: { workspace_id: 'ws_1', event_id: 'evt_01', rule_id: 'warehouse-disabled' },
    });
  });

  describe('buttons', () => {
    it('offers Acknowledge, Show trail, a danger Revert with a confirm naming the inverse change, and Silence…', () => {
      const message = buildAlertMessage({ event: event(), rule, revertEnabled: true });
      expect(ids(message)).toEqual([ACKNOWLEDGE_ACTION, SHOW_TRAIL_ACTION, REVERT_ACTION, SILENCE_ACTION]);
      const [acknowledge, trail, revert] = controls(message);

      expect(acknowledge).toMatchObject({ text: { text: 'Acknowledge' }, style: 'primary' });
      expect(trail).toMatchObject({ action_id: SHOW_TRAIL_ACTION, text: { text: 'Show trail' } });
      const value = { w: 'ws_1', e: 'evt_01', r: 'warehouse-disabled' };
      for (const button of [acknowledge, trail, revert]) expect(parseAlertButtonValue(button?.value)).toEqual(value);
      expect(revert).toMatchObject({ action_id: REVERT_ACTION, style: 'danger', text: { text: 'Revert' } });
      expect(revert?.confirm).toMatchObject({ confirm: { text: 'Revert' }, deny: { text: 'Cancel' } });
      expect(revert?.confirm?.text.text).toBe(
        'This enables the warehouse “Prod Snowflake” in Segment again and records a “Warehouses Enabled” event.',
      );
    });

    const withoutRevert = [ACKNOWLEDGE_ACTION, SHOW_TRAIL_ACTION, SILENCE_ACTION];

    it('offers no Revert when SEGMENT_API_TOKEN is not set', () => {
      expect(ids(buildAlertMessage({ event: event(), rule, revertEnabled: false }))).toEqual(withoutRevert);
    });

    it('offers no Revert when the rule does not allow it', () => {
      const noRevert = { ...rule, revert: false };
      expect(ids(buildAlertMessage({ event: event(), rule: noRevert, revertEnabled: true }))).toEqual(withoutRevert);
    });

    it('never offers Revert for a Deleted event', () => {
      const deleted = event({
        type: 'Source Deleted',
        category: 'Source',
        resource: { type: 'source', id: 'src_1' },
        changes: null,
      });
      expect(ids(buildAlertMessage({ event: deleted, rule, revertEnabled: true }))).toEqual(withoutRevert);
    });

    it('never offers Revert for a Modified event without changes.before', () => {
      const modified = event({
        type: 'Source Modified',
        category: 'Source',
        resource: { type: 'source', id: 'src_1' },
        changes: { after: { name: 'new' } },
      });
      expect(ids(buildAlertMessage({ event: modified, rule, revertEnabled: true }))).toEqual(withoutRevert);
    });

    it('offers a Silence… menu of 1 hour, 8 hours, 24 hours and 7 days', () => {
      const silence = control(buildAlertMessage({ event: event(), rule, revertEnabled: true }), SILENCE_ACTION);
      expect(silence).toMatchObject({ type: 'static_select', placeholder: { type: 'plain_text', text: 'Silence…' } });
      expect(silence?.options?.map((o) => [o.text.text, o.value])).toEqual([
        ['for 1 hour', '1h'],
        ['for 8 hours', '8h'],
        ['for 24 hours', '24h'],
        ['for 7 days', '7d'],
      ]);
      expect(SILENCE_DURATIONS.map((d) => d.value)).toEqual(['1h', '8h', '24h', '7d']);
    });

    it('offers an Open link from RESOURCE_URLS, with the resource id URL-encoded', () => {
      const templates = new Map([['warehouse', 'https://app.example.com/wh/{id}/overview']]);
      const url = resourceUrl(templates, { type: 'warehouse', id: 'wh 1/../x?y' });
      expect(url).toBe('https://app.example.com/wh/wh%201%2F..%2Fx%3Fy/overview');
      const message = buildAlertMessage({ event: event(), rule, revertEnabled: true, resourceUrl: url });
      expect(control(message, OPEN_LINK_ACTION)).toEqual({
        type: 'button',
        action_id: OPEN_LINK_ACTION,
        text: { type: 'plain_text', text: 'Open' },
        url,
      });
      expect(resourceUrl(templates, { type: 'source', id: 'src_1' })).toBeUndefined();
      const plain = buildAlertMessage({ event: event(), rule, revertEnabled: true });
      expect(control(plain, OPEN_LINK_ACTION)).toBeUndefined();
    });

    it('offers Revert for a Modified event with changes.before, naming the fields it restores', () => {
      const modified = event({
        type: 'Source Modified',
        category: 'Source',
        resource: { type: 'source', id: 'src_1', name: 'Website' },
        changes: { before: { name: 'Old', settings: { a: 1 }, unrelated: true }, after: { name: 'New' } },
      });
      const revert = control(buildAlertMessage({ event: modified, rule, revertEnabled: true }), REVERT_ACTION);
      expect(revert?.confirm?.text.text).toBe(
        'This sets name, settings of the source “Website” back to their values before this change ' +
          'and records a “Source Modified” event.',
      );
    });
  });

  it('reads back only button values it made', () => {
    expect(parseAlertButtonValue('{"w":"ws_1","e":"evt_1"}')).toEqual({ w: 'ws_1', e: 'evt_1' });
    expect(parseAlertButtonValue('{"w":"ws_1","e":"evt_1","r":"r1"}')).toEqual({ w: 'ws_1', e: 'evt_1', r: 'r1' });
    expect(parseAlertButtonValue('{"w":1}')).toBeUndefined();
    expect(parseAlertButtonValue('not json')).toBeUndefined();
    expect(parseAlertButtonValue(undefined)).toBeUndefined();
  });
});

describe('status lines on an alert', () => {
  const blocks = buildAlertMessage({ event: event(), rule, revertEnabled: true }).blocks;
  const statusTexts = (list: readonly { type: string; block_id?: string }[]) =>
    list
      .filter((b) => b.block_id?.startsWith('audit_'))
      .map((b) => [b.block_id, (b as unknown as { elements: TextObject[] }).elements[0]!.text]);

  it('puts each status just above the buttons, in one order whatever came first, replacing, not stacking', () => {
    const ackFirst = withAlertStatus(withAlertStatus(blocks, 'acknowledged', 'ack'), 'reverted', 'rev');
    const revertFirst = withAlertStatus(withAlertStatus(blocks, 'reverted', 'rev'), 'acknowledged', 'ack');
    expect(ackFirst).toEqual(revertFirst);
    expect(statusTexts(ackFirst)).toEqual([
      ['audit_acknowledged', 'ack'],
      ['audit_outcome', 'rev'],
    ]);
    expect(ackFirst.at(-1)?.type).toBe('actions');

    const again = withAlertStatus(ackFirst, 'reverted', 'rev 2');
    expect(statusTexts(again)).toEqual([
      ['audit_acknowledged', 'ack'],
      ['audit_outcome', 'rev 2'],
    ]);
    expect(again).toHaveLength(ackFirst.length);
  });

  it('removes one control and keeps the rest; an emptied row goes', () => {
    const withoutAck = withoutAlertControl(blocks, ACKNOWLEDGE_ACTION);
    const row = withoutAck.find((b) => b.type === 'actions') as { elements: { action_id: string }[] };
    expect(row.elements.map((e) => e.action_id)).toEqual([SHOW_TRAIL_ACTION, REVERT_ACTION, SILENCE_ACTION]);
    const all = [ACKNOWLEDGE_ACTION, SHOW_TRAIL_ACTION, REVERT_ACTION, SILENCE_ACTION];
    const bare = all.reduce(withoutAlertControl, blocks);
    expect(bare.some((b) => b.type === 'actions')).toBe(false);
    expect(withAlertStatus(bare, 'acknowledged', 'ack').at(-1)).toMatchObject({ block_id: 'audit_acknowledged' });
  });
});
