/**
 * The Slack app: one Bolt App, listening on the service's own port at /slack/events (HTTP mode: each request
 * screened by envelope.ts, then verified again by Bolt's receiver) or over Socket Mode when SLACK_APP_TOKEN is set.
 */
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { App } from '@slack/bolt';
import { slackLogger } from './client.ts';
import type { SlackDeps } from './context.ts';
import { type Screening, screenSlackRequest } from './envelope.ts';
import { loadBolt } from './libraries.ts';
import { registerListeners } from './listeners/index.ts';

export const SLACK_EVENTS_PATH = '/slack/events';

export interface SlackApp {
  app: App;
  /** HTTP mode only: what POST /slack/events needs (http/routes/slack.ts). */
  http?: {
    /** Signature, timestamp window and payload shape, checked before Bolt sees the request. */
    screen: (headers: IncomingHttpHeaders, body: Buffer) => Screening;
    /** Hands a screened request, its raw body already read, to Bolt's receiver. */
    handle: (request: IncomingMessage & { rawBody?: Buffer }, response: ServerResponse) => void;
  };
  start(): Promise<void>;
  stop(): Promise<void>;
}

export function createSlackApp(deps: SlackDeps): SlackApp {
  const { App, HTTPReceiver, SocketModeReceiver } = loadBolt();
  const { slack } = deps.config;
  const logger = slackLogger(deps.logger, 'bolt');
  const clientOptions = { slackApiUrl: slack.apiUrl };

  if (slack.appToken) {
    // Built here rather than by `socketMode: true`, which would open the connection through slack.com
    // whatever SLACK_API_URL says.
    const receiver = new SocketModeReceiver({ appToken: slack.appToken, logger, installerOptions: { clientOptions } });
    const app = new App({ token: slack.botToken, receiver, logger, clientOptions });
    registerListeners(app, deps);
    app.error(async (error) => deps.logger.error({ err: error }, 'Slack listener failed'));
    return {
      app,
      start: async () => {
        await app.start();
      },
      stop: async () => {
        await app.stop();
      },
    };
  }

  const receiver = new HTTPReceiver({
    signingSecret: slack.signingSecret,
    endpoints: SLACK_EVENTS_PATH,
    logger,
    // Listeners ack first and work after, and what no listener matches is acked by listeners/ack-unhandled.ts; a
    // request still unanswered after this long is answered 404 by Bolt.
    unhandledRequestTimeoutMillis: 3001,
  });
  const app = new App({ token: slack.botToken, receiver, logger, clientOptions });
  registerListeners(app, deps);
  app.error(async (error) => deps.logger.error({ err: error }, 'Slack listener failed'));
  return {
    app,
    http: {
      screen: (headers, body) => screenSlackRequest({ headers, body, signingSecret: slack.signingSecret }),
      handle: (request, response) => receiver.requestListener(request, response),
    },
    // The service's HTTP server is the listener; the receiver never opens a port of its own.
    start: async () => {},
    stop: async () => {},
  };
}
