/**
 * Which Slack user an actor's email belongs to (users.lookupByEmail, scope users:read.email), for an alert's mention.
 * Answers are kept in memory (a miss too, for less long), and a caller never waits more than a moment: an alert goes
 * out without the mention rather than late, and the answer, when it comes, serves the next alert.
 */
import type { WebClient } from '@slack/web-api';
import { platformErrorCode } from '../alerting/slack-sender.ts';
import type { Logger } from '../logger.ts';

export interface SlackUserLookup {
  /** The Slack user ID for an email, or undefined when there is none, or Slack did not say within `waitMs`. */
  slackUserFor(email: string): Promise<string | undefined>;
}

export interface SlackUserLookupOptions {
  client: WebClient;
  logger: Logger;
  /** How long an alert waits for an answer not yet cached (default 300 ms). */
  waitMs?: number;
  /** How long a found user is kept (default 1 h). */
  hitTtlMs?: number;
  /** How long "no such user" is kept (default 10 min): someone who joins Slack gets mentioned soon after. */
  missTtlMs?: number;
  /** How long a failed lookup (rate limit, missing scope) is kept, so a failing Slack is not asked per alert. */
  errorTtlMs?: number;
  /** Emails kept at most; the oldest answer goes first. */
  maxEntries?: number;
}

/** Slack user IDs (U…, or W… on Enterprise Grid): anything else never becomes `<@…>` markup. */
const USER_ID = /^[UW][A-Z0-9]{2,}$/;

export function createSlackUserLookup(options: SlackUserLookupOptions): SlackUserLookup {
  const { client, logger } = options;
  const waitMs = options.waitMs ?? 300;
  const hitTtlMs = options.hitTtlMs ?? 3_600_000;
  const missTtlMs = options.missTtlMs ?? 600_000;
  const errorTtlMs = options.errorTtlMs ?? 60_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const cache = new Map<string, { userId: string | undefined; until: number }>();
  const inflight = new Map<string, Promise<string | undefined>>();
  const warned = new Set<string>();

  function remember(email: string, userId: string | undefined, ttlMs: number): void {
    cache.delete(email);
    cache.set(email, { userId, until: Date.now() + ttlMs });
    // Maps iterate in insertion order, so the first key is the oldest answer.
    if (cache.size > maxEntries) cache.delete(cache.keys().next().value!);
  }

  function lookup(email: string): Promise<string | undefined> {
    const running = inflight.get(email);
    if (running) return running;
    const asked = client.users
      .lookupByEmail({ email })
      .then((answer) => {
        const id = answer.user?.id;
        const userId = id && USER_ID.test(id) && !answer.user?.deleted ? id : undefined;
        remember(email, userId, userId ? hitTtlMs : missTtlMs);
        return userId;
      })
      .catch((error: unknown) => {
        const code = platformErrorCode(error);
        if (code === 'users_not_found' || code === 'user_not_found') {
          remember(email, undefined, missTtlMs);
          return undefined;
        }
        remember(email, undefined, errorTtlMs);
        // Once per kind of failure: a missing scope would otherwise log on every alert.
        const kind = code ?? (error as { code?: string }).code ?? 'unknown';
        if (!warned.has(kind)) {
          warned.add(kind);
          logger.warn(
            { err: error, error: kind },
            'could not look up a Slack user by email; alerts show the actor without a mention',
          );
        }
        return undefined;
      })
      .finally(() => inflight.delete(email));
    inflight.set(email, asked);
    return asked;
  }

  return {
    async slackUserFor(rawEmail) {
      const email = rawEmail.trim().toLowerCase();
      if (!email.includes('@')) return undefined;
      const cached = cache.get(email);
      if (cached && cached.until > Date.now()) return cached.userId;
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<undefined>((resolve) => {
        timer = setTimeout(() => resolve(undefined), waitMs);
      });
      try {
        return await Promise.race([lookup(email), timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** The Slack users of actors with an email, by actor id, looked up side by side: the wait is one lookup's at most. */
export async function slackUsersOf(
  users: SlackUserLookup,
  actors: readonly { id: string; email: string | null }[],
): Promise<Map<string, string>> {
  const found = await Promise.all(
    actors.map(async (actor) => [actor.id, actor.email ? await users.slackUserFor(actor.email) : undefined] as const),
  );
  return new Map(found.flatMap(([id, userId]) => (userId ? [[id, userId] as const] : [])));
}
