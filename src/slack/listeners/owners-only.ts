/**
 * The owner check, as one Bolt listener middleware in front of every owner-only command and action. It acknowledges
 * first, because the owner-group lookup may outlast Slack's 3 seconds; so the listeners behind it never ack, and
 * answer through respond() (or, for a click in the App Home, which has no response_url, as the home tab says). A
 * non-owner gets an ephemeral refusal and the attempt becomes an audit event.
 */
import type {
  AllMiddlewareArgs,
  BlockAction,
  BlockElementAction,
  Middleware,
  SlackActionMiddlewareArgs,
  SlackCommandMiddlewareArgs,
} from '@slack/bolt';
import { appendEventsTx } from '../../store/append.ts';
import { storableJson } from '../../store/storable.ts';
import { type SlackDeps, workspaceForTeam } from '../context.ts';

export type OwnerOnlyArgs = SlackCommandMiddlewareArgs | SlackActionMiddlewareArgs<BlockAction<BlockElementAction>>;

/** Type of the event that records a refused /audit or button click; outside the catalog, so category Other. */
export const ACCESS_DENIED_TYPE = 'Audit Access Denied';

export const REFUSAL_TEXT =
  'Only audit owners can use this. Ask an admin to add you to AUDIT_OWNERS or to the owner user group. ' +
  '(This attempt was recorded in the audit trail.)';

/**
 * Lets owners through to the listener. `what` names the attempt in the record (`/audit`, `revert`); `detail` is what
 * else is worth keeping of it, and must never hold a secret (the trail is forwarded and shown in Slack).
 */
export function ownersOnly<Args extends OwnerOnlyArgs>(
  deps: SlackDeps,
  what: string,
  detail?: (args: Args) => string | undefined,
): Middleware<Args> {
  return async (args) => {
    await args.ack();
    const attempt = attemptOf(args);
    if (await deps.owners.isOwner(attempt.userId)) {
      await args.next();
      return;
    }
    const workspaceId = workspaceForTeam(deps.config, attempt.teamId);
    const refusal = 'command' in args ? { text: REFUSAL_TEXT } : { replace_original: false, text: REFUSAL_TEXT };
    // A click in the App Home comes without a response_url; that user's home tab is republished instead.
    const tell = (args.respond as typeof args.respond | undefined)
      ? args.respond({ response_type: 'ephemeral', ...refusal })
      : deps.home.publishFor(attempt.userId, attempt.teamId);
    await Promise.all([tell, recordAccessDenied(deps, { ...attempt, workspaceId, what, detail: detail?.(args) })]);
    deps.logger.info({ what, user: attempt.userId, workspaceId }, 'refused a non-owner');
  };
}

interface Attempt {
  userId: string;
  userName?: string | undefined;
  teamId?: string | undefined;
  channelId?: string | undefined;
}

function attemptOf(args: OwnerOnlyArgs & AllMiddlewareArgs): Attempt {
  if ('command' in args) {
    const { command } = args;
    return {
      userId: command.user_id,
      userName: command.user_name,
      teamId: command.team_id,
      channelId: command.channel_id,
    };
  }
  const { body } = args;
  return { userId: body.user.id, userName: body.user.name, teamId: body.team?.id, channelId: body.channel?.id };
}

/**
 * A refused attempt is itself an audit event, so owners see who tried (and a rule can alert on it). Everything in it
 * came from Slack, so text Postgres refuses (NUL, a lone surrogate) is escaped: the attempt is recorded, whatever it
 * held.
 */
async function recordAccessDenied(
  deps: SlackDeps,
  attempt: Attempt & { workspaceId: string; what: string; detail?: string | undefined },
): Promise<void> {
  await appendEventsTx(deps.database.db, attempt.workspaceId, [
    storableJson({
      type: ACCESS_DENIED_TYPE,
      actor: { type: 'user', id: attempt.userId, ...(attempt.userName && { name: attempt.userName }) },
      resource: { type: 'slack_app', id: attempt.what },
      context: { slackTeamId: attempt.teamId ?? null, slackChannelId: attempt.channelId ?? null },
      metadata: {
        attempted: attempt.what,
        ...(attempt.detail !== undefined && { detail: attempt.detail.slice(0, 2000) }),
      },
    }),
  ]);
}
