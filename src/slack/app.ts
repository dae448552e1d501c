/**
 * The Slack app: one Bolt App, listening on the service's own port at /slack/events (HTTP mode,
 * signatures checked by Bolt's receiver) or over Socket Mode when SLACK_APP_TOKEN is set.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { App } from '@slack/bolt';
import { slackLogger } from './client.ts';
import type { SlackDeps } from './context.ts';
import { loadBolt } from './libraries.ts';
import { registerListeners } from './listeners/index.ts';

export const SLACK_EVENTS_PATH = '/slack/events';

export interface SlackApp {
  app: App;
  /** HTTP mode only: hands a request whose raw body was already read to Bolt's receiver. */
  handleHttp?: (request: IncomingMessage & { rawBody?: Buffer }, response: ServerResponse) => void;
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
    // Listeners ack first and work after; a listener that never acks is answered 500 after this long.
    unhandledRequestTimeoutMillis: 3001,
  });
  const app = new App({ token: slack.botToken, receiver, logger, clientOptions });
  registerListeners(app, deps);
  app.error(async (error) => deps.logger.error({ err: error }, 'Slack listener failed'));
  return {
    app,
    handleHttp: (request, response) => receiver.requestListener(request, response),
    // The service's HTTP server is the listener; the receiver never opens a port of its own.
    start: async () => {},
    stop: async () => {},
  };
}
