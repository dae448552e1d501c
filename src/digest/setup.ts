/** Whether this process makes digests: DIGEST_CHANNEL, DIGEST_SIGNING_KEY and a Slack bot token to post with. */
import type { KeyObject } from 'node:crypto';
import type { Config } from '../config.ts';

export type DigestSetup =
  | { on: true; channel: string; signingKey: KeyObject }
  /** `partial`: something was set, so the operator meant digests to be on and should hear why they are not. */
  | { on: false; reason: string; partial: boolean };

export function digestSetup(config: Config): DigestSetup {
  const { channel, signingKey } = config.digest;
  if (!channel && !signingKey) {
    return { on: false, reason: 'signed chain digests are off (set DIGEST_CHANNEL and DIGEST_SIGNING_KEY to turn them on)', partial: false };
  }
  if (!signingKey) return { on: false, reason: 'DIGEST_CHANNEL is set but DIGEST_SIGNING_KEY is not: signed chain digests are off', partial: true };
  if (!channel) return { on: false, reason: 'DIGEST_SIGNING_KEY is set but DIGEST_CHANNEL is not: signed chain digests are off', partial: true };
  if (!config.slack.botToken) {
    return { on: false, reason: 'DIGEST_CHANNEL and DIGEST_SIGNING_KEY are set but SLACK_BOT_TOKEN is not: signed chain digests are off', partial: true };
  }
  return { on: true, channel, signingKey };
}
