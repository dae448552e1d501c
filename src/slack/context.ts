/** What the Slack listeners share: the store, owner checks, team → workspace mapping, and refusal records. */
import type { Queue } from 'bullmq';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { RevertTarget } from '../revert/types.ts';
import { appendEventsTx } from '../store/append.ts';
import type { Database } from '../store/db.ts';
import type { OwnerCheck } from './owners.ts';

export interface SlackDeps {
  config: Config;
  logger: Logger;
  database: Database;
  owners: OwnerCheck;
  exports: Queue;
  /** Undefined without SEGMENT_API_TOKEN. */
  revertTarget: RevertTarget | undefined;
}

/** The audit workspace a Slack team sees (SLACK_TEAMS, else DEFAULT_WORKSPACE_ID). */
export function workspaceForTeam(config: Config, teamId: string | undefined): string {
  return (teamId && config.slack.teams.get(teamId)) || config.slack.defaultWorkspaceId;
}

/** Type of the event that records a refused /audit or button click; outside the catalog, so category Other. */
export const ACCESS_DENIED_TYPE = 'Audit Access Denied';

/** A refused attempt is itself an audit event, so owners see who tried (and a rule can alert on it). */
export async function recordAccessDenied(
  deps: SlackDeps,
  attempt: { workspaceId: string; userId: string; userName?: string; teamId?: string; channelId?: string; what: string; detail?: string },
): Promise<void> {
  await appendEventsTx(deps.database.db, attempt.workspaceId, [
    {
      type: ACCESS_DENIED_TYPE,
      actor: { type: 'user', id: attempt.userId, ...(attempt.userName && { name: attempt.userName }) },
      resource: { type: 'slack_app', id: attempt.what },
      context: { slackTeamId: attempt.teamId ?? null, slackChannelId: attempt.channelId ?? null },
      metadata: { attempted: attempt.what, ...(attempt.detail !== undefined && { detail: attempt.detail.slice(0, 2000) }) },
    },
  ]);
}

export const REFUSAL_TEXT =
  'Only audit owners can use this. Ask an admin to add you to AUDIT_OWNERS or to the owner user group. (This attempt was recorded in the audit trail.)';
