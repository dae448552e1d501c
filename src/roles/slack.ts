/**
 * The slack role: the Bolt app behind /slack/events (or Socket Mode) that answers /audit and the alert buttons.
 * Off, with a warning, without SLACK_BOT_TOKEN; config refuses a token without a way to trust requests.
 */
import { slackRoutes } from '../http/routes/slack.ts';
import { createSegmentRevertTarget } from '../revert/segment.ts';
import { createSlackApp } from '../slack/app.ts';
import { createOwnerCheck } from '../slack/owners.ts';
import type { Role, SharedInfrastructure } from './role.ts';

export function createSlackRole(shared: SharedInfrastructure): Role {
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
  const { owners, ownerGroup } = config.slack;
  const { apiUrl, apiToken } = config.segment;
  const slackApp = createSlackApp({
    config,
    logger: logger.child({ role: 'slack' }),
    database: shared.database,
    owners: createOwnerCheck({ client, owners, ownerGroup, logger }),
    exports: shared.queues.exports,
    revertAll: shared.queues.revertAll,
    revertTarget: apiToken
      ? createSegmentRevertTarget({ apiUrl, apiToken, logger: logger.child({ component: 'segment' }) })
      : undefined,
  });
  if (slackApp.http) void shared.http.register(slackRoutes, slackApp.http);
  return {
    start: () => slackApp.start(),
    // Socket Mode closes its connection here; a failure to close it must not keep the process from stopping.
    stop: () => slackApp.stop().catch(() => {}),
  };
}
