/**
 * The summary each silence gets when it ends, in its rule's channel: how many alerts it held back, with "Show them".
 * Every worker sweeps for ended silences now and then; a summary is claimed under a lease in Postgres, posted, and
 * marked, and a worker that takes over an expired lease first looks in the channel for a summary already posted (by
 * its message metadata), so each silence gets exactly one, however many workers run and whichever of them dies.
 */
import type { WebClient } from '@slack/web-api';
import type { Logger } from '../logger.ts';
import { buildSilenceSummary, SILENCE_SUMMARY_METADATA_TYPE } from '../slack/blocks/silences.ts';
import type { Db } from '../store/db.ts';
import type { SilenceRow } from '../store/schema/index.ts';
import { claimDueSilenceSummary, countHeldBack, markSilenceSummary, retrySilenceSummaryIn } from '../store/silences.ts';
import type { RuleSet } from './rule-loader.ts';
import { findChannelId, findMessageByMetadata, isPermanentSlackError, platformErrorCode } from './slack-sender.ts';

export interface SilenceSummaryOptions {
  /** How often to look for ended silences (default 5 s): how late a summary may be. */
  intervalMs?: number;
  /** How long a claim is this worker's before another may take it over (default 60 s). */
  leaseMs?: number;
}

export interface SilenceSummaries {
  start(): void;
  /** Posts every due summary; resolves with how many were handled (for tests). */
  sweep(): Promise<number>;
  stop(): Promise<void>;
}

export function createSilenceSummaries(deps: {
  db: Db;
  /** Undefined without SLACK_BOT_TOKEN: summaries are written to the log. */
  client: WebClient | undefined;
  rules: RuleSet;
  logger: Logger;
  options?: SilenceSummaryOptions;
}): SilenceSummaries {
  const { db, client } = deps;
  const log = deps.logger.child({ component: 'silence-summaries' });
  const intervalMs = deps.options?.intervalMs ?? 5000;
  const leaseMs = deps.options?.leaseMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<number> | undefined;

  async function summarise(silence: SilenceRow): Promise<void> {
    const heldBack = await countHeldBack(db, silence.id);
    // The rule's channel now, if the rule is still there (it may have moved); else where it was when silenced.
    const channel = deps.rules.current().find((rule) => rule.id === silence.ruleId)?.channel ?? silence.channel;
    const summary = buildSilenceSummary(silence, heldBack);
    const slog = log.child({ silenceId: silence.id, ruleId: silence.ruleId, channel });
    if (!client) {
      slog.warn({ summary }, 'silence ended (SLACK_BOT_TOKEN is not set, so its summary was not posted)');
      await markSilenceSummary(db, silence.id, { status: 'logged' });
      return;
    }
    if (silence.summaryAttempts > 1) {
      // An earlier claim may have posted and died before recording it.
      const channelId = await findChannelId(client, channel);
      const ts =
        channelId &&
        (await findMessageByMetadata(
          client,
          channelId,
          SILENCE_SUMMARY_METADATA_TYPE,
          silence.endsAt.getTime(),
          (payload) => payload.workspace_id === silence.workspaceId && payload.silence_id === silence.id,
        ));
      if (channelId && ts) {
        await markSilenceSummary(db, silence.id, { status: 'posted', channelId, ts });
        slog.info({ ts }, 'silence summary was already in the channel; recorded it');
        return;
      }
    }
    try {
      const answer = await client.chat.postMessage({
        channel,
        text: summary.text,
        blocks: summary.blocks,
        metadata: summary.metadata,
        unfurl_links: false,
        unfurl_media: false,
      });
      await markSilenceSummary(db, silence.id, {
        status: 'posted',
        channelId: String(answer.channel),
        ts: String(answer.ts),
      });
      slog.info({ heldBack }, 'silence summary posted');
    } catch (error) {
      const code = platformErrorCode(error);
      if (code && isPermanentSlackError(code)) {
        await markSilenceSummary(db, silence.id, { status: 'failed' });
        slog.error({ error: code }, `silence summary not posted: Slack answered ${code}; it will not be retried`);
        return;
      }
      // Retried on a later sweep (by any worker), which looks in the channel first: this post may have landed.
      await retrySilenceSummaryIn(db, silence.id, intervalMs);
      slog.warn({ err: error }, 'could not post the silence summary; will try again');
    }
  }

  async function sweepAll(): Promise<number> {
    let handled = 0;
    for (;;) {
      const silence = await claimDueSilenceSummary(db, leaseMs);
      if (!silence) return handled;
      handled += 1;
      await summarise(silence);
    }
  }

  function sweep(): Promise<number> {
    running ??= sweepAll()
      .catch((error: unknown) => {
        log.warn({ err: error }, 'could not sweep for ended silences; will try again');
        return 0;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  }

  return {
    start() {
      timer = setInterval(() => void sweep(), intervalMs);
      void sweep();
    },
    sweep,
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
