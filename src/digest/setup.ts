/** Whether this process makes digests: DIGEST_CHANNEL, DIGEST_SIGNING_KEY and a Slack bot token to post with. */
import type { KeyObject } from 'node:crypto';
import type { Config } from '../config.ts';

export type DigestSetup =
  | { on: true; channel: string; signingKey: KeyObject }
  /** `partial`: something was set, so the operator meant digests to be on and should hear why they are not. */
  | { on: false; reason: string; partial: boolean };

export function digestSetup(config: Config): DigestSetup {
  const { channel, signingKey } = config.digest;
  const off = (reason: string, partial = true): DigestSetup => ({ on: false, reason, partial });
  if (!channel && !signingKey) {
    return off('signed chain digests are off (set DIGEST_CHANNEL and DIGEST_SIGNING_KEY to turn them on)', false);
  }
  if (!signingKey) return off('DIGEST_CHANNEL is set but DIGEST_SIGNING_KEY is not: signed chain digests are off');
  if (!channel) return off('DIGEST_SIGNING_KEY is set but DIGEST_CHANNEL is not: signed chain digests are off');
  if (!config.slack.botToken) {
    return off('DIGEST_CHANNEL and DIGEST_SIGNING_KEY are set but SLACK_BOT_TOKEN is not: digests are off');
  }
  return { on: true, channel, signingKey };
}
