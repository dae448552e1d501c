import { LogLevel, retryPolicies, WebClient } from '@slack/web-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type FakeSlack, startFakeSlack } from './fake-slack.ts';

let slack: FakeSlack;
let client: WebClient;

beforeEach(async () => {
  slack = await startFakeSlack();
  // rapidRetryPolicy removes WebClient's own backoff, so a retry waits only for Retry-After.
  client = new WebClient('xoxb-test', {
    slackApiUrl: slack.url,
    retryConfig: retryPolicies.rapidRetryPolicy,
    logLevel: LogLevel.ERROR,
  });
});

afterEach(async () => {
  await slack.close();
});

describe('the fake Slack Web API', () => {
  it('answers auth.test for the bot token', async () => {
    const answer = await client.auth.test();
    expect(answer).toMatchObject({ ok: true, team_id: slack.teamId, user_id: slack.botUserId });
    expect(slack.callsTo('auth.test')[0]?.headers.authorization).toBe('Bearer xoxb-test');
  });

  it('refuses a token that is not the bot token with invalid_auth', async () => {
    const stranger = new WebClient('xoxb-wrong', { slackApiUrl: slack.url, logLevel: LogLevel.ERROR });
    await expect(stranger.auth.test()).rejects.toMatchObject({ data: { ok: false, error: 'invalid_auth' } });
  });

  it('posts to a channel by name and answers with its ID, a fresh ts and the message', async () => {
    const first = await client.chat.postMessage({ channel: '#data-alerts', text: 'one' });
    const second = await client.chat.postMessage({ channel: '#data-alerts', text: 'two' });

    expect(first.channel).toMatch(/^C\d{10}$/);
    expect(second.channel).toBe(first.channel);
    expect(first.ts).toMatch(/^\d{10}\.\d{6}$/);
    expect(Number(second.ts)).toBeGreaterThan(Number(first.ts));
    expect(first.message).toMatchObject({ type: 'message', text: 'one', ts: first.ts, bot_id: expect.any(String) });
    expect(slack.channelId('#data-alerts')).toBe(first.channel);

    const listed = await client.conversations.list({ types: 'public_channel' });
    expect(listed.channels).toContainEqual(expect.objectContaining({ id: first.channel, name: 'data-alerts' }));
  });

  it('parses the JSON-encoded blocks and metadata WebClient sends in its form body', async () => {
    const blocks = [{ type: 'section', text: { type: 'mrkdwn', text: '*hi*' } }];
    const metadata = { event_type: 'audit_alert', event_payload: { event_id: 'evt_1' } };
    await client.chat.postMessage({ channel: '#data-alerts', text: 'hi', blocks, metadata });

    const [call] = slack.callsTo('chat.postMessage');
    expect(call?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(call?.body).toMatchObject({ channel: '#data-alerts', text: 'hi', blocks, metadata });
  });

  it('returns a channel history newest first, with metadata only when include_all_metadata asks for it', async () => {
    const metadata = {
      event_type: 'audit_alert',
      event_payload: { workspace_id: 'ws_1', event_id: 'evt_1', rule_id: 'r1' },
    };
    const { channel } = await client.chat.postMessage({ channel: '#data-alerts', text: 'older', metadata });
    await client.chat.postMessage({ channel: '#data-alerts', text: 'newer' });

    const plain = await client.conversations.history({ channel: channel! });
    expect(plain.messages?.map((m) => m.text)).toEqual(['newer', 'older']);
    expect(plain.messages?.[1]).not.toHaveProperty('metadata');

    const withMetadata = await client.conversations.history({ channel: channel!, include_all_metadata: true });
    expect(withMetadata.messages?.[1]?.metadata).toEqual(metadata);
  });

  it('pages a history with limit and cursor, and honours oldest', async () => {
    const posted: string[] = [];
    for (const text of ['a', 'b', 'c']) {
      const answer = await client.chat.postMessage({ channel: '#paging', text });
      posted.push(answer.ts!);
    }
    const channel = slack.channelId('#paging');

    const first = await client.conversations.history({ channel, limit: 2 });
    expect(first.messages?.map((m) => m.text)).toEqual(['c', 'b']);
    expect(first.has_more).toBe(true);
    const second = await client.conversations.history({
      channel,
      limit: 2,
      cursor: first.response_metadata!.next_cursor!,
    });
    expect(second.messages?.map((m) => m.text)).toEqual(['a']);
    expect(second.has_more).toBe(false);

    const recent = await client.conversations.history({ channel, oldest: posted[0]! });
    expect(recent.messages?.map((m) => m.text)).toEqual(['c', 'b']);
  });

  it('refuses a history by channel name, as Slack wants the ID', async () => {
    await client.chat.postMessage({ channel: '#data-alerts', text: 'x' });
    await expect(client.conversations.history({ channel: '#data-alerts' })).rejects.toMatchObject({
      data: { error: 'channel_not_found' },
    });
  });

  it('updates a message in place and keeps its metadata', async () => {
    const metadata = { event_type: 'audit_alert', event_payload: { event_id: 'evt_1' } };
    const { channel, ts } = await client.chat.postMessage({ channel: '#data-alerts', text: 'before', metadata });

    const updated = await client.chat.update({ channel: channel!, ts: ts!, text: 'after', blocks: [] });
    expect(updated).toMatchObject({ ok: true, channel, ts, text: 'after' });

    const [message] = slack.messages('#data-alerts');
    expect(message).toMatchObject({ ts, text: 'after', blocks: [], metadata, edited: { user: slack.botUserId } });
    await expect(client.chat.update({ channel: channel!, ts: '1.000001', text: 'x' })).rejects.toMatchObject({
      data: { error: 'message_not_found' },
    });
  });

  it('refuses blocks over Block Kit limits with invalid_blocks', async () => {
    // WebClient logs Slack's [ERROR] response messages; this test expects them, so they go nowhere.
    const quiet = {
      debug() {},
      info() {},
      warn() {},
      error() {},
      setLevel() {},
      getLevel: () => LogLevel.ERROR,
      setName() {},
    };
    const client = new WebClient('xoxb-test', { slackApiUrl: slack.url, logger: quiet });
    const blocks = [{ type: 'header', text: { type: 'plain_text', text: 'x'.repeat(151) } }];
    await expect(client.chat.postMessage({ channel: '#data-alerts', text: 'x', blocks })).rejects.toMatchObject({
      data: {
        error: 'invalid_blocks',
        errors: ['must be less than 151 characters [json-pointer:/blocks/0/text/text]'],
      },
    });
    expect(slack.messages('#data-alerts')).toEqual([]);
  });

  it('records ephemeral messages for the user they were shown to', async () => {
    const answer = await client.chat.postEphemeral({ channel: '#data-alerts', user: 'U123', text: 'only you' });
    expect(answer.message_ts).toMatch(/^\d+\.\d{6}$/);
    expect(slack.ephemerals('#data-alerts')).toEqual([expect.objectContaining({ user: 'U123', text: 'only you' })]);
  });

  it('answers a scripted 429 with Retry-After, which WebClient waits out and then retries', async () => {
    slack.failNext('chat.postMessage', { status: 429, retryAfter: 1 });

    const answer = await client.chat.postMessage({ channel: '#data-alerts', text: 'eventually' });

    expect(answer.ok).toBe(true);
    const attempts = slack.callsTo('chat.postMessage');
    expect(attempts).toHaveLength(2);
    expect(attempts[1]!.at - attempts[0]!.at).toBeGreaterThanOrEqual(950);
    expect(slack.messages('#data-alerts')).toHaveLength(1);
  });

  it('lets a client that rejects rate-limited calls see the Retry-After', async () => {
    const impatient = new WebClient('xoxb-test', {
      slackApiUrl: slack.url,
      rejectRateLimitedCalls: true,
      logLevel: LogLevel.ERROR,
    });
    slack.failNext('chat.update', { retryAfter: 7 });
    await expect(impatient.chat.update({ channel: 'C1', ts: '1.1', text: 'x' })).rejects.toMatchObject({
      code: 'slack_webapi_rate_limited_error',
      retryAfter: 7,
    });
  });

  it('answers a scripted platform error once, then normally', async () => {
    slack.failNext('chat.postMessage', { error: 'channel_not_found' });
    await expect(client.chat.postMessage({ channel: '#gone', text: 'x' })).rejects.toMatchObject({
      data: { ok: false, error: 'channel_not_found' },
    });
    await expect(client.chat.postMessage({ channel: '#gone', text: 'x' })).resolves.toMatchObject({ ok: true });
  });

  it('uploads a file end to end through files.uploadV2', async () => {
    const csv = Buffer.from('id,type\nevt_1,Warehouses Disabled\n');
    const channel = slack.channelId('#exports');

    const answer = await client.files.uploadV2({
      channel_id: channel,
      file: csv,
      filename: 'audit.csv',
      initial_comment: '2 rows, 2026-11-01 to 2026-11-25',
    });

    expect(answer.ok).toBe(true);
    const [file] = slack.files();
    expect(file).toMatchObject({ filename: 'audit.csv', length: csv.length, completed: true, channel });
    expect(file?.bytes?.toString()).toBe(csv.toString());
    expect(slack.callsTo('files.completeUploadExternal')[0]?.body).toMatchObject({
      channel_id: channel,
      initial_comment: '2 rows, 2026-11-01 to 2026-11-25',
      files: [{ id: file?.id, title: 'audit.csv' }],
    });
    expect(slack.messages('#exports')).toEqual([
      expect.objectContaining({
        text: '2 rows, 2026-11-01 to 2026-11-25',
        files: [expect.objectContaining({ id: file?.id })],
      }),
    ]);
  });

  it('answers user-group membership and user profiles as scripted', async () => {
    slack.setUsergroupMembers('S0123', ['U1', 'U2']);
    slack.addUser({ id: 'U1', name: 'jane', real_name: 'Jane Doe', email: 'jane@acme.com' });

    await expect(client.usergroups.users.list({ usergroup: 'S0123' })).resolves.toMatchObject({ users: ['U1', 'U2'] });
    await expect(client.usergroups.users.list({ usergroup: 'S9999' })).rejects.toMatchObject({
      data: { error: 'no_such_subteam' },
    });
    await expect(client.users.info({ user: 'U1' })).resolves.toMatchObject({
      user: { id: 'U1', name: 'jane', real_name: 'Jane Doe', profile: { email: 'jane@acme.com' } },
    });
    await expect(client.users.info({ user: 'U404' })).rejects.toMatchObject({ data: { error: 'user_not_found' } });
  });

  it('records what is posted to a response_url', async () => {
    const url = slack.responseUrl('cmd-1');
    const answer = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ response_type: 'ephemeral', text: 'page 1' }),
    });
    expect(answer.status).toBe(200);
    expect(slack.responses('cmd-1')).toEqual([
      expect.objectContaining({ body: { response_type: 'ephemeral', text: 'page 1' } }),
    ]);
  });

  it('holds calls of a method until released, so two clicks can be made to overlap', async () => {
    const { channel, ts } = await client.chat.postMessage({ channel: '#data-alerts', text: 'x' });
    const gate = slack.hold('chat.update');

    const updates = [1, 2].map((n) => client.chat.update({ channel: channel!, ts: ts!, text: `update ${n}` }));
    await gate.waitUntilHeld(2);
    expect(gate.waiting).toBe(2);
    gate.release();

    await expect(Promise.all(updates)).resolves.toHaveLength(2);
  });

  it('delays answers by the scripted time', async () => {
    slack.setDelay('auth.test', 200);
    const started = performance.now();
    await client.auth.test();
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
  });

  it('waits for calls and says which arrived when they do not', async () => {
    const waiting = slack.waitForCalls('chat.postMessage', 1, 2000);
    await client.chat.postMessage({ channel: '#data-alerts', text: 'x' });
    await expect(waiting).resolves.toHaveLength(1);
    await expect(slack.waitForCalls('chat.update', 1, 50)).rejects.toThrow(
      /expected 1 chat.update call\(s\).*chat.postMessage/,
    );
  });
});
