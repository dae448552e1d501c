/** Configuration: parsed once from the environment with zod, every bad variable reported at once. */
import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { parseSigningKey } from './digest/keys.ts';
import { DURATION_HINT, tryParseDuration } from './duration.ts';

export const ROLES = ['api', 'slack', 'worker', 'relay', 'scheduler'] as const;
export type RoleName = (typeof ROLES)[number];

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** `a:b,c:d` → [['a','b'],['c','d']], with a message naming the bad pair. */
const pairList = (what: string) =>
  z.string().transform((raw, ctx) => {
    const pairs: [string, string][] = [];
    for (const item of raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)) {
      const at = item.indexOf(':');
      const key = item.slice(0, at).trim();
      const value = item.slice(at + 1).trim();
      if (at <= 0 || !value) {
        ctx.addIssue({ code: 'custom', message: `"${redact(item)}" is not a ${what} pair` });
        return z.NEVER;
      }
      pairs.push([key, value]);
    }
    return pairs;
  });

/** Never echo a secret back in an error message. */
function redact(item: string): string {
  const at = item.indexOf(':');
  return at > 0 ? `${item.slice(0, at)}:…` : '…';
}

const idList = z.string().transform((raw) =>
  raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

const url = (protocols: string[]) =>
  z.string().refine(
    (raw) => {
      try {
        return protocols.includes(new URL(raw).protocol);
      } catch {
        return false;
      }
    },
    `must be a ${protocols.join(' or ')} URL`,
  );

const integer = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, `must be a whole number between ${min} and ${max}`)
    .transform(Number)
    .refine((n) => n >= min && n <= max, `must be a whole number between ${min} and ${max}`);

const optionalSecret = (prefix: string) =>
  z.string().refine((s) => s === '' || s.startsWith(prefix), `must start with "${prefix}"`);

/**
 * `warehouse=https://app.example.com/warehouses/{id},source=…`: an "Open" link per resource type. Each template must
 * hold `{id}` and be an http(s) URL once an id is put in; a bad pair is named (templates are not secrets).
 */
const resourceUrls = z.string().transform((raw, ctx) => {
  const templates = new Map<string, string>();
  for (const item of raw
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const problem = resourceUrlProblem(item);
    if (problem) {
      ctx.addIssue({ code: 'custom', message: `"${item.slice(0, 200)}" ${problem}` });
      continue;
    }
    const at = item.indexOf('=');
    templates.set(item.slice(0, at).trim(), item.slice(at + 1).trim());
  }
  return templates;
});

function resourceUrlProblem(item: string): string | undefined {
  const at = item.indexOf('=');
  if (at <= 0) return 'is not a resourceType=https://…{id}… pair';
  const template = item.slice(at + 1).trim();
  if (!template.includes('{id}')) return 'has no {id} in its URL template';
  try {
    const { protocol } = new URL(template.replaceAll('{id}', 'id'));
    return protocol === 'https:' || protocol === 'http:' ? undefined : 'must be an https or http URL template';
  } catch {
    return 'must be an https or http URL template';
  }
}
/** A duration such as `90s`, `1h` or `90d`, in milliseconds, at least `minMs`. */
const duration = (minMs = 1) =>
  z.string().transform((raw, ctx) => {
    const ms = tryParseDuration(raw.trim());
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `"${raw}" is not a duration: ${DURATION_HINT}` });
      return z.NEVER;
    }
    if (ms < minMs) {
      ctx.addIssue({ code: 'custom', message: `must be at least ${minMs / 1000}s (got "${raw}")` });
      return z.NEVER;
    }
    return ms;
  });

/** The Ed25519 private key that signs digests; a problem names what is wrong with it, never its content. */
const signingKey = z.string().transform((raw, ctx) => {
  const parsed = parseSigningKey(raw);
  if (parsed.ok) return parsed.key;
  ctx.addIssue({ code: 'custom', message: parsed.problem });
  return z.NEVER;
});

const envFields = z.object({
  DATABASE_URL: url(['postgres:', 'postgresql:']).default('postgres://postgres@127.0.0.1:5432/audit_trail'),
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_{}.-]+$/, 'may hold only letters, digits, _ - . { }')
    .default('audit'),
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: integer(0, 65535).default(3000),
  INGEST_TOKENS: pairList('workspaceId:token').default([]),
  RETENTION_DAYS: integer(1, 36500).default(90),
  RULES_DIR: z.string().min(1).default('./rules'),
  SLACK_BOT_TOKEN: optionalSecret('xoxb-').default(''),
  SLACK_SIGNING_SECRET: z.string().default(''),
  SLACK_APP_TOKEN: optionalSecret('xapp-').default(''),
  SLACK_API_URL: url(['http:', 'https:']).default('https://slack.com/api/'),
  SLACK_TEAMS: pairList('slackTeamId:workspaceId').default([]),
  DEFAULT_WORKSPACE_ID: z.string().min(1).default('default'),
  AUDIT_OWNERS: idList.default([]),
  AUDIT_OWNER_GROUP: z.string().default(''),
  SEGMENT_API_URL: url(['http:', 'https:']).default('https://api.segmentapis.com'),
  SEGMENT_API_TOKEN: z.string().default(''),
  SEGMENT_TRACKING_URL: url(['http:', 'https:']).default('https://api.segment.io/v1'),
  SEGMENT_PULL_WORKSPACE: z.string().trim().default(''),
  SEGMENT_PULL_INTERVAL: duration(1000).default(60_000),
  SEGMENT_PULL_SINCE: duration().default(90 * 86_400_000),
  ALERT_MAX_AGE: duration().default(3_600_000),
  DIGEST_CHANNEL: z.string().trim().default(''),
  DIGEST_SIGNING_KEY: signingKey.optional(),
  RESOURCE_URLS: resourceUrls.default(new Map()),
  LOG_LEVEL: z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }).default('info'),
  ROLES: z
    .string()
    .transform((raw, ctx) => {
      const roles = raw
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const unknown = roles.filter((r) => !(ROLES as readonly string[]).includes(r));
      if (unknown.length || roles.length === 0) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a comma-separated subset of ${ROLES.join(',')} (got "${raw}")`,
        });
        return z.NEVER;
      }
      return [...new Set(roles)] as RoleName[];
    })
    .default([...ROLES]),
});

/**
 * A cross-field check runs when each variable it reads parsed (also when other variables are bad), so that every
 * problem is listed at once: one bad variable must not hide a bad combination of others.
 */
const whenParsed =
  (...variables: string[]) =>
  ({ issues }: { issues: readonly { path?: readonly PropertyKey[] }[] }) =>
    !issues.some((issue) => variables.includes(String(issue.path?.[0])));

const envSchema = envFields
  .superRefine(
    (env, ctx) => {
      // Without a signing secret (and no Socket Mode) nothing tells Slack's requests from anyone else's.
      if (env.ROLES.includes('slack') && env.SLACK_BOT_TOKEN && !env.SLACK_APP_TOKEN && !env.SLACK_SIGNING_SECRET) {
        ctx.addIssue({
          code: 'custom',
          path: ['SLACK_SIGNING_SECRET'],
          message: 'required in HTTP mode (or set SLACK_APP_TOKEN for Socket Mode)',
        });
      }
    },
    { when: whenParsed('ROLES', 'SLACK_BOT_TOKEN', 'SLACK_APP_TOKEN', 'SLACK_SIGNING_SECRET') },
  )
  .superRefine(
    (env, ctx) => {
      // The import reads GET /audit-events with the Public API token; without one it could never succeed.
      if (env.SEGMENT_PULL_WORKSPACE && !env.SEGMENT_API_TOKEN) {
        ctx.addIssue({
          code: 'custom',
          path: ['SEGMENT_PULL_WORKSPACE'],
          message: 'the Segment import needs SEGMENT_API_TOKEN (a Public API token allowed to read the Audit Trail)',
        });
      }
    },
    { when: whenParsed('SEGMENT_PULL_WORKSPACE', 'SEGMENT_API_TOKEN') },
  );

type Env = z.infer<typeof envSchema>;

/** Every variable the service reads, for checks that deployment files pass each one through. */
export const ENV_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

export interface Config {
  databaseUrl: string;
  redisUrl: string;
  queuePrefix: string;
  host: string;
  port: number;
  ingestTokens: readonly { workspaceId: string; token: string }[];
  retentionDays: number;
  rulesDir: string;
  slack: {
    botToken: string;
    signingSecret: string;
    appToken: string;
    apiUrl: string;
    teams: ReadonlyMap<string, string>;
    defaultWorkspaceId: string;
    owners: readonly string[];
    ownerGroup: string;
  };
  segment: {
    apiUrl: string;
    apiToken: string;
    trackingUrl: string;
    /** Importing Segment's own audit trail from the Public API (SPEC section 11); undefined when off. */
    pull?: { workspaceId: string; intervalMs: number; sinceMs: number };
  };
  /** ALERT_MAX_AGE: an event whose timestamp is older than this when received is stored but never alerted. */
  alertMaxAgeMs: number;
  /** Signed chain digests (SPEC section 12); off unless both are set. */
  digest: { channel: string; signingKey?: KeyObject };
  /** RESOURCE_URLS: resource type → URL template holding `{id}`, for the alert's "Open" link. */
  resourceUrls: ReadonlyMap<string, string>;
  logLevel: (typeof LOG_LEVELS)[number];
  roles: ReadonlySet<RoleName>;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Parse the environment; throws one ConfigError listing every bad variable. The CLI runs no role, so it skips the
 * checks that only matter to a running service (a signing secret for the slack role).
 */
export function loadConfig(
  env: NodeJS.ProcessEnv | Record<string, string | undefined>,
  { for: purpose = 'service' }: { for?: 'service' | 'cli' } = {},
): Config {
  // An empty variable means "use the default", as operators expect from `FOO=` in a compose file.
  const present = Object.fromEntries(
    Object.keys(envFields.shape).flatMap((key) => (env[key] ? [[key, env[key]]] : [])),
  );
  const parsed = (purpose === 'service' ? envSchema : envFields).safeParse(present);
  if (!parsed.success) {
    throw new ConfigError(parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`));
  }
  return toConfig(parsed.data);
}

function toConfig(env: Env): Config {
  return Object.freeze({
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    queuePrefix: env.QUEUE_PREFIX,
    host: env.HOST,
    port: env.PORT,
    ingestTokens: env.INGEST_TOKENS.map(([workspaceId, token]) => ({ workspaceId, token })),
    retentionDays: env.RETENTION_DAYS,
    rulesDir: env.RULES_DIR,
    slack: {
      botToken: env.SLACK_BOT_TOKEN,
      signingSecret: env.SLACK_SIGNING_SECRET,
      appToken: env.SLACK_APP_TOKEN,
      apiUrl: env.SLACK_API_URL.endsWith('/') ? env.SLACK_API_URL : `${env.SLACK_API_URL}/`,
      teams: new Map(env.SLACK_TEAMS),
      defaultWorkspaceId: env.DEFAULT_WORKSPACE_ID,
      owners: env.AUDIT_OWNERS,
      ownerGroup: env.AUDIT_OWNER_GROUP,
    },
    segment: {
      apiUrl: env.SEGMENT_API_URL.replace(/\/+$/, ''),
      apiToken: env.SEGMENT_API_TOKEN,
      trackingUrl: env.SEGMENT_TRACKING_URL.replace(/\/+$/, ''),
      ...(env.SEGMENT_PULL_WORKSPACE && {
        pull: {
          workspaceId: env.SEGMENT_PULL_WORKSPACE,
          intervalMs: env.SEGMENT_PULL_INTERVAL,
          sinceMs: env.SEGMENT_PULL_SINCE,
        },
      }),
    },
    alertMaxAgeMs: env.ALERT_MAX_AGE,
    digest: { channel: env.DIGEST_CHANNEL, ...(env.DIGEST_SIGNING_KEY && { signingKey: env.DIGEST_SIGNING_KEY }) },
    resourceUrls: env.RESOURCE_URLS,
    logLevel: env.LOG_LEVEL,
    roles: new Set(env.ROLES),
  });
}
