/**
 * The slack role: the Bolt app behind /slack/events (or Socket Mode) that answers /audit, the alert buttons and the
 * App Home. Off, with a warning, without SLACK_BOT_TOKEN; config refuses a token without a way to trust requests.
 * It reads RULES_DIR too: `/audit silence` checks rule ids against the rules and silences in the rule's channel.
 */
import type { RuleSet } from '../alerting/rule-loader.ts';
import { slackRoutes } from '../http/routes/slack.ts';
import { createSegmentRevertTarget } from '../revert/segment.ts';
import { createSlackApp } from '../slack/app.ts';
import { createHomeTab } from '../slack/home/home-tab.ts';
import { createOwnerCheck } from '../slack/owners.ts';
import type { Role, SharedInfrastructure } from './role.ts';

export interface SlackRoleOptions {
  /** App Home refresh knobs (tests use a short debounce). */
  home?: { recentMs?: number; debounceMs?: number };
}

export function createSlackRole(shared: SharedInfrastructure, options: SlackRoleOptions = {}): Role {
  const { config, logger } = shared;
  const client = shared.slackClient();
  if (!client) {
    return {
      start: async () => {
        logger.warn(
          'SLACK_BOT_TOKEN is not set: /audit and the alert buttons are off (POST /slack/events answers 404)',
        );
      },
      stop: async () => {},
    };
  }
  const { owners: ownerIds, ownerGroup } = config.slack;
  const { apiUrl, apiToken } = config.segment;
  const log = logger.child({ role: 'slack' });
  const owners = createOwnerCheck({ client, owners: ownerIds, ownerGroup, logger });
  const home = createHomeTab({ client, database: shared.database, owners, config, logger: log, ...options.home });
  // Loaded in start(); listeners only run once the server listens, which is after every role has started.
  let rules: RuleSet | undefined;
  const slackApp = createSlackApp({
    config,
    logger: log,
    database: shared.database,
    owners,
    exports: shared.queues.exports,
    revertAll: shared.queues.revertAll,
    revertTarget: apiToken
      ? createSegmentRevertTarget({ apiUrl, apiToken, logger: logger.child({ component: 'segment' }) })
      : undefined,
    rules: { current: () => rules?.current() ?? [] },
    metrics: shared.metrics,
    home,
  });
  if (slackApp.http) void shared.http.register(slackRoutes, slackApp.http);
  return {
    async start() {
      rules = await shared.rules();
      await home.start();
      await slackApp.start();
    },
    async stop() {
      // Socket Mode closes its connection here; a failure to close it must not keep the process from stopping.
      await slackApp.stop().catch(() => {});
      await home.stop();
    },
  };
}
