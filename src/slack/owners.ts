/** Who may use /audit, Show trail and Revert: AUDIT_OWNERS, plus members of AUDIT_OWNER_GROUP. */
import type { WebClient } from '@slack/web-api';
import type { Logger } from '../logger.ts';

export interface OwnerCheck {
  isOwner(userId: string): Promise<boolean>;
}

/** Group membership is fetched with usergroups.users.list and kept briefly, so a removal takes effect soon. */
export function createOwnerCheck(options: {
  client: WebClient;
  owners: readonly string[];
  ownerGroup: string;
  logger: Logger;
  cacheMs?: number;
}): OwnerCheck {
  const owners = new Set(options.owners);
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
        // Fail closed: nobody is an owner through the group while Slack cannot say who is in it.
        options.logger.warn({ err: error, usergroup: options.ownerGroup }, 'could not read the owner group');
        return cached?.members ?? new Set<string>();
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
