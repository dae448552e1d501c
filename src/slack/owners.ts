/** Who may use /audit, Show trail and Revert: AUDIT_OWNERS, plus members of AUDIT_OWNER_GROUP. */
import type { WebClient } from '@slack/web-api';
import type { Logger } from '../logger.ts';

export interface OwnerCheck {
  isOwner(userId: string): Promise<boolean>;
}

/**
 * Group membership is fetched with usergroups.users.list and kept for `cacheMs` (a minute), so a removal takes effect
 * soon. When Slack cannot answer (down, rate limited), the last list read stands in for at most `staleMs` more (five
 * minutes): one failed lookup does not lock every owner out. After that nobody is an owner through the group until
 * Slack answers again (fail closed); AUDIT_OWNERS still are.
 */
export function createOwnerCheck(options: {
  client: WebClient;
  owners: readonly string[];
  ownerGroup: string;
  logger: Logger;
  cacheMs?: number;
  staleMs?: number;
}): OwnerCheck {
  const owners = new Set(options.owners);
  const staleMs = options.staleMs ?? 5 * 60_000;
  let cached: { members: Set<string>; until: number } | undefined;
  let inflight: Promise<Set<string>> | undefined;

  async function groupMembers(): Promise<Set<string>> {
    if (!options.ownerGroup) return new Set();
    if (cached && cached.until > Date.now()) return cached.members;
    inflight ??= options.client.usergroups.users
      .list({ usergroup: options.ownerGroup })
      .then((answer) => {
        const members = new Set(answer.users ?? []);
        cached = { members, until: Date.now() + (options.cacheMs ?? 60_000) };
        return members;
      })
      .catch((error: unknown) => {
        const usable = cached && cached.until + staleMs > Date.now();
        options.logger.warn(
          { err: error, usergroup: options.ownerGroup },
          usable
            ? 'could not read the owner group: its last known members stand in'
            : 'could not read the owner group: nobody is an owner through it until Slack answers',
        );
        return usable ? cached!.members : new Set<string>();
      })
      .finally(() => {
        inflight = undefined;
      });
    return inflight;
  }

  return {
    async isOwner(userId) {
      if (owners.has(userId)) return true;
      return (await groupMembers()).has(userId);
    },
  };
}
