/** The Slack Web API client, pointed at SLACK_API_URL and logging through pino. */
import type { LogLevel, RetryOptions, Logger as SlackLogger, WebClient } from '@slack/web-api';
import type { Logger } from '../logger.ts';
import { loadWebApi } from './libraries.ts';

/** @slack/logger's interface over a pino child, so Bolt's and the client's warnings (rate limits) land in our log. */
export function slackLogger(logger: Logger, component: string): SlackLogger {
  const log = logger.child({ component });
  const text = (msg: unknown[]) =>
    msg.map((m) => (typeof m === 'string' ? m : m instanceof Error ? m.message : JSON.stringify(m))).join(' ');
  return {
    debug: (...msg: unknown[]) => log.debug(text(msg)),
    info: (...msg: unknown[]) => log.info(text(msg)),
    warn: (...msg: unknown[]) => log.warn(text(msg)),
    error: (...msg: unknown[]) => log.error(text(msg)),
    setLevel: () => {},
    getLevel: (): LogLevel => loadWebApi().LogLevel.INFO,
    setName: () => {},
  };
}

export function createSlackClient(
  token: string,
  apiUrl: string,
  logger: Logger,
  options: { retryConfig?: RetryOptions } = {},
): WebClient {
  const { WebClient, retryPolicies } = loadWebApi();
  return new WebClient(token, {
    slackApiUrl: apiUrl,
    logger: slackLogger(logger, 'slack-web-api'),
    // Rate-limited calls wait for Retry-After and go again inside the client: an alert is never dropped.
    rejectRateLimitedCalls: false,
    retryConfig: options.retryConfig ?? retryPolicies.fiveRetriesInFiveMinutes,
  });
}
