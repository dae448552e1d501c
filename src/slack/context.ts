/**
 * What the Slack listeners share: the store, the owner check, the export queue, the rules, metrics, the App Home, and
 * team → workspace mapping.
 */
import type { Queue } from 'bullmq';
import type { Rule } from '../alerting/rules/types.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { RevertAllJob } from '../queue/names.ts';
import type { RevertTarget } from '../revert/types.ts';
import type { Database } from '../store/db.ts';
import type { HomeTab } from './home/home-tab.ts';
import type { OwnerCheck } from './owners.ts';

export interface SlackDeps {
  config: Config;
  logger: Logger;
  database: Database;
  owners: OwnerCheck;
  exports: Queue;
  /** Revert all runs (revert/revert-all.ts). */
  revertAll: Queue<RevertAllJob>;
  /** Undefined without SEGMENT_API_TOKEN. */
  revertTarget: RevertTarget | undefined;
  /** The rules in force (`/audit silence` checks rule ids against them and silences in the rule's channel). */
  rules: { current(): readonly Rule[] };
  metrics: Metrics;
  home: HomeTab;
}

/** The audit workspace a Slack team sees (SLACK_TEAMS, else DEFAULT_WORKSPACE_ID). */
export function workspaceForTeam(config: Config, teamId: string | undefined): string {
  return (teamId && config.slack.teams.get(teamId)) || config.slack.defaultWorkspaceId;
}
