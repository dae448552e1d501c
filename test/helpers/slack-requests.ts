/** Requests the way Slack sends them to /slack/events: form-encoded, signed with v0 HMAC-SHA256. */
import { createHmac, randomBytes } from 'node:crypto';

export const SIGNING_SECRET = 'test-signing-secret-8f1c';

export function sign(secret: string, timestamp: number, body: string): string {
  return `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
}

export async function postToSlackEndpoint(
  baseUrl: string,
  body: string,
  options: { secret?: string; timestamp?: number; signature?: string; contentType?: string } = {},
): Promise<Response> {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return fetch(`${baseUrl}/slack/events`, {
    method: 'POST',
    headers: {
      'content-type': options.contentType ?? 'application/x-www-form-urlencoded',
      'x-slack-request-timestamp': String(timestamp),
      'x-slack-signature': options.signature ?? sign(options.secret ?? SIGNING_SECRET, timestamp, body),
    },
    body,
  });
}

/** A slash command payload with the fields Slack documents for /commands requests. */
export function slashCommandBody(fields: {
  text: string;
  userId: string;
  userName?: string;
  teamId?: string;
  channelId?: string;
  responseUrl: string;
}): string {
  return new URLSearchParams({
    token: 'deprecated-verification-token',
    team_id: fields.teamId ?? 'T0001',
    team_domain: 'acme',
    channel_id: fields.channelId ?? 'C0000000001',
    channel_name: 'data-alerts',
    user_id: fields.userId,
    user_name: fields.userName ?? 'jane',
    command: '/audit',
    text: fields.text,
    api_app_id: 'A0001',
    is_enterprise_install: 'false',
    response_url: fields.responseUrl,
    trigger_id: `${Date.now()}.${randomBytes(4).toString('hex')}`,
  }).toString();
}

/** A block_actions payload for a button click on a message, shaped as in Slack's interactivity docs. */
export function blockActionBody(fields: {
  actionId: string;
  value: string;
  userId: string;
  userName?: string;
  teamId?: string;
  channelId: string;
  message: { ts: string; text?: string; blocks?: unknown[] };
  responseUrl: string;
  isEphemeral?: boolean;
}): string {
  const payload = {
    type: 'block_actions',
    user: {
      id: fields.userId,
      username: fields.userName ?? 'jane',
      name: fields.userName ?? 'jane',
      team_id: fields.teamId ?? 'T0001',
    },
    api_app_id: 'A0001',
    token: 'deprecated-verification-token',
    container: {
      type: 'message',
      message_ts: fields.message.ts,
      channel_id: fields.channelId,
      is_ephemeral: fields.isEphemeral ?? false,
    },
    trigger_id: `${Date.now()}.${randomBytes(4).toString('hex')}`,
    team: { id: fields.teamId ?? 'T0001', domain: 'acme' },
    enterprise: null,
    is_enterprise_install: false,
    channel: { id: fields.channelId, name: 'data-alerts' },
    message: {
      type: 'message',
      ts: fields.message.ts,
      text: fields.message.text ?? '',
      blocks: fields.message.blocks ?? [],
      bot_id: 'B0001',
      user: 'U0BOT',
    },
    state: { values: {} },
    response_url: fields.responseUrl,
    actions: [
      {
        action_id: fields.actionId,
        block_id: 'actions',
        text: { type: 'plain_text', text: 'Button', emoji: true },
        value: fields.value,
        type: 'button',
        action_ts: String(Date.now() / 1000),
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/** A block_actions payload for a choice in a static select on a message (the alert's Silence… menu). */
export function selectActionBody(fields: {
  actionId: string;
  value: string;
  label?: string;
  userId: string;
  teamId?: string;
  channelId: string;
  message: { ts: string; text?: string; blocks?: unknown[] };
  responseUrl: string;
}): string {
  const payload = JSON.parse(new URLSearchParams(blockActionBody({ ...fields, value: '' })).get('payload')!) as Record<
    string,
    unknown
  > & { actions: Record<string, unknown>[] };
  payload.actions = [
    {
      type: 'static_select',
      action_id: fields.actionId,
      block_id: 'actions',
      selected_option: {
        text: { type: 'plain_text', text: fields.label ?? fields.value, emoji: true },
        value: fields.value,
      },
      placeholder: { type: 'plain_text', text: 'Silence…', emoji: true },
      action_ts: String(Date.now() / 1000),
    },
  ];
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/**
 * A block_actions payload for a button in a view (the App Home tab or a modal): as Slack sends it, with the view
 * (its id, hash, type and title) and no response_url, channel or message.
 */
export function viewActionBody(fields: {
  actionId: string;
  value: string;
  userId: string;
  teamId?: string;
  view: { id: string; hash: string; type: 'home' | 'modal'; title?: string };
}): string {
  const payload = {
    type: 'block_actions',
    user: { id: fields.userId, username: 'jane', name: 'jane', team_id: fields.teamId ?? 'T0001' },
    api_app_id: 'A0001',
    token: 'deprecated-verification-token',
    container: { type: 'view', view_id: fields.view.id },
    trigger_id: `${Date.now()}.${randomBytes(4).toString('hex')}`,
    team: { id: fields.teamId ?? 'T0001', domain: 'acme' },
    enterprise: null,
    is_enterprise_install: false,
    view: {
      id: fields.view.id,
      team_id: fields.teamId ?? 'T0001',
      type: fields.view.type,
      blocks: [],
      private_metadata: '',
      callback_id: '',
      state: { values: {} },
      hash: fields.view.hash,
      ...(fields.view.title && { title: { type: 'plain_text', text: fields.view.title, emoji: true } }),
      root_view_id: fields.view.id,
      app_id: 'A0001',
      bot_id: 'B0001',
    },
    actions: [
      {
        action_id: fields.actionId,
        block_id: 'home',
        text: { type: 'plain_text', text: 'Button', emoji: true },
        value: fields.value,
        type: 'button',
        action_ts: String(Date.now() / 1000),
      },
    ],
  };
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}

/** An Events API request (`event_callback`), JSON as Slack sends it, e.g. app_home_opened. */
export function eventCallbackBody(event: Record<string, unknown>, teamId = 'T0001'): string {
  return JSON.stringify({
    token: 'deprecated-verification-token',
    team_id: teamId,
    api_app_id: 'A0001',
    event,
    type: 'event_callback',
    event_id: `Ev${randomBytes(5).toString('hex').toUpperCase()}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [{ team_id: teamId, user_id: 'U0BOT', is_bot: true, is_enterprise_install: false }],
    is_ext_shared_channel: false,
  });
}

/** app_home_opened for the Home tab, as a user opening it sends it. */
export function appHomeOpenedEvent(userId: string): Record<string, unknown> {
  const eventTs = String(Date.now() / 1000);
  return { type: 'app_home_opened', user: userId, channel: 'D0000000001', tab: 'home', event_ts: eventTs };
}

/**
 * The environment that connects a service's Slack side to the fake Slack: its bot token and API URL, the signing
 * secret the requests here are signed with, the owners, and which audit workspace each Slack team sees (by default
 * the team slack sessions sign as, T0001, sees `acme`).
 */
export function slackEnv(
  slack: { botToken: string; url: string },
  options: { owners: string; teams?: string },
): Record<string, string> {
  return {
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.url,
    SLACK_TEAMS: options.teams ?? 'T0001:acme',
    AUDIT_OWNERS: options.owners,
  };
}
