import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type WebSocket, WebSocketServer } from 'ws';
import { createTestDatabase, type TestDatabase } from '../helpers/database.ts';
import { type FakeSlack, startFakeSlack } from '../helpers/fake-slack.ts';
import { freePort } from '../helpers/redis-server.ts';
import { startTestService, type TestService } from '../helpers/service.ts';

const APP_TOKEN = 'xapp-1-A0001-test';
const OWNER = 'U0OWNER1';

let database: TestDatabase;
let slack: FakeSlack;
let sockets: WebSocketServer;
let app: TestService;
const connected: Promise<WebSocket> = new Promise((resolve) => {
  void (async () => {
    const port = await freePort();
    sockets = new WebSocketServer({ host: '127.0.0.1', port });
    sockets.on('connection', (socket) => {
      // What Slack sends first on every Socket Mode connection.
      socket.send(
        JSON.stringify({
          type: 'hello',
          num_connections: 1,
          debug_info: { host: 'fake', approximate_connection_time: 3600 },
          connection_info: { app_id: 'A0001' },
        }),
      );
      resolve(socket);
    });
    socketUrl = `ws://127.0.0.1:${port}/link`;
  })();
});
let socketUrl = '';

beforeAll(async () => {
  database = await createTestDatabase();
  while (!socketUrl) await new Promise((r) => setTimeout(r, 10));
  slack = await startFakeSlack({ appToken: APP_TOKEN, socketUrl });
  app = await startTestService(database.url, {
    ROLES: 'api,slack',
    SLACK_BOT_TOKEN: slack.botToken,
    SLACK_APP_TOKEN: APP_TOKEN,
    SLACK_API_URL: slack.url,
    AUDIT_OWNERS: OWNER,
  });
});

afterAll(async () => {
  await app?.stop();
  for (const client of sockets?.clients ?? []) client.terminate();
  await new Promise((resolve) => sockets?.close(resolve));
  await slack?.close();
  await database?.drop();
});

describe('Socket Mode (SLACK_APP_TOKEN set)', () => {
  it('opens the connection through SLACK_API_URL with the app token and answers /audit over the socket', async () => {
    const socket = await connected;
    expect(slack.callsTo('apps.connections.open')).toHaveLength(1);
    const ack = new Promise<{ envelope_id: string; payload?: { text?: string; blocks?: unknown[] } }>((resolve) => {
      socket.on('message', (data) => {
        const message = JSON.parse(String(data)) as { envelope_id?: string };
        if (message.envelope_id === 'env-1') resolve(message as never);
      });
    });
    socket.send(
      JSON.stringify({
        envelope_id: 'env-1',
        type: 'slash_commands',
        accepts_response_payload: true,
        payload: {
          token: 'deprecated',
          team_id: 'T0001',
          team_domain: 'acme',
          channel_id: 'C0000000001',
          channel_name: 'data-alerts',
          user_id: OWNER,
          user_name: 'jane',
          command: '/audit',
          text: 'help',
          api_app_id: 'A0001',
          is_enterprise_install: 'false',
          response_url: slack.responseUrl('socket'),
          trigger_id: '1.2.3',
        },
      }),
    );
    // Acknowledged at once, before the owner check; the answer follows through response_url.
    const answer = await ack;
    expect(answer.payload ?? {}).toEqual({});
    await expect.poll(() => slack.responses('socket').length, { timeout: 10_000 }).toBe(1);
    expect(JSON.stringify(slack.responses('socket')[0]!.body)).toContain('/audit export');
  });

  it('serves no /slack/events over HTTP', async () => {
    const response = await fetch(`${app.url}/slack/events`, {
      method: 'POST',
      body: 'x=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(response.status).toBe(404);
  });
});
