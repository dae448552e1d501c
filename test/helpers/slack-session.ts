/**
 * A Slack user's side of a running service, for tests: slash commands, clicks on messages and views, the App Home
 * opening, and what came back (response_url answers, messages, views), all through the real /slack/events endpoint
 * signed as Slack signs it, against the local fake Slack.
 */
import { expect } from 'vitest';
import type { FakeMessage, FakeSlack } from './fake-slack.ts';
import { getEvents } from './service.ts';
import {
  appHomeOpenedEvent,
  blockActionBody,
  eventCallbackBody,
  postToSlackEndpoint,
  selectActionBody,
  slashCommandBody,
  viewActionBody,
} from './slack-requests.ts';

export interface Answer {
  response_type?: string;
  replace_original?: boolean;
  text?: string;
  blocks?: Block[];
}

export interface Block {
  type: string;
  block_id?: string;
  text?: { text: string };
  elements?: { type?: string; action_id?: string; value?: string; text?: { text: string } | string; url?: string }[];
  accessory?: { action_id?: string; value?: string };
}

export interface StoredAuditEvent {
  id: string;
  type: string;
  category: string;
  actor: { type: string; id: string; name?: string };
  resource: { type: string; id: string };
  context: Record<string, unknown> | null;
  metadata: Record<string, unknown> | null;
}

export function slackSession(slack: FakeSlack, service: () => { url: string; token: string }, teamId = 'T0001') {
  let n = 0;
  const responseUrl = () => slack.responseUrl(`r${++n}_${Math.random().toString(36).slice(2, 8)}`);
  const idOf = (url: string) => decodeURIComponent(url.split('/').at(-1)!);

  async function send(body: string, contentType?: string): Promise<void> {
    const response = await postToSlackEndpoint(service().url, body, contentType ? { contentType } : {});
    expect(response.status).toBe(200);
  }

  /** The last answer posted to a response_url, once there is one. */
  async function lastResponse(url: string, count = 1): Promise<Answer> {
    await expect.poll(() => slack.responses(idOf(url)).length, { timeout: 10_000 }).toBeGreaterThanOrEqual(count);
    return slack.responses(idOf(url)).at(-1)!.body as Answer;
  }

  return {
    responseUrl,
    lastResponse,

    /** Runs `/audit <text>` and resolves with the answer (posted to response_url after an empty ack). */
    async command(text: string, userId: string, channelId = 'C0000000001'): Promise<Answer> {
      const url = responseUrl();
      await send(slashCommandBody({ text, userId, responseUrl: url, teamId, channelId }));
      return lastResponse(url);
    },

    /** Clicks a button on a message; resolves with the response_url to read the answer from. */
    async click(
      actionId: string,
      value: string,
      userId: string,
      message: { ts: string; text?: string; blocks?: unknown[] },
      channelId: string,
    ) {
      const url = responseUrl();
      await send(blockActionBody({ actionId, value, userId, channelId, message, responseUrl: url, teamId }));
      return url;
    },

    /** Chooses an option of a static select on a message (the alert's Silence… menu). */
    async select(
      actionId: string,
      value: string,
      userId: string,
      message: { ts: string; text?: string; blocks?: unknown[] },
      channelId: string,
    ) {
      const url = responseUrl();
      await send(selectActionBody({ actionId, value, userId, channelId, message, responseUrl: url, teamId }));
      return url;
    },

    /** Clicks a button in a view (the App Home tab or a modal), which comes without a response_url. */
    async clickInView(
      actionId: string,
      value: string,
      userId: string,
      view: { id: string; hash: string; type: 'home' | 'modal'; title?: string },
    ) {
      await send(viewActionBody({ actionId, value, userId, teamId, view }));
    },

    async openHome(userId: string): Promise<void> {
      await send(eventCallbackBody(appHomeOpenedEvent(userId), teamId), 'application/json');
    },

    /** Audit events of the workspace, newest first, through the HTTP API. */
    async stored(query: string): Promise<StoredAuditEvent[]> {
      const { url, token } = service();
      return ((await (await getEvents(url, token, query)).json()) as { events: StoredAuditEvent[] }).events;
    },

    /** The alert in `channel` whose metadata names the event, once it is there. */
    async alertFor(channel: string, eventId: string): Promise<FakeMessage> {
      const find = () => slack.messages(channel).find((m) => m.metadata?.event_payload.event_id === eventId);
      await expect.poll(() => find() !== undefined, { timeout: 10_000 }).toBe(true);
      return find()!;
    },
  };
}

/** A control of a message or view by its action_id. */
export function controlOf(
  blocks: unknown[] | undefined,
  actionId: string,
): { value?: string; url?: string } | undefined {
  for (const block of (blocks ?? []) as Block[]) {
    if (block.accessory?.action_id === actionId) return block.accessory;
    const found = block.elements?.find((e) => e.action_id === actionId);
    if (found) return found;
  }
  return undefined;
}

/** Prometheus text from the service. */
export async function metricsText(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}
