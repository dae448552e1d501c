/**
 * Where the suite's Postgres and Redis come from, decided once by the global setup: the URL in
 * TEST_DATABASE_URL / TEST_REDIS_URL when set; else the server on its default local port when it
 * answers; else a testcontainers container when a Docker engine answers; else nothing, and one message
 * saying what to start or set.
 */

import { Redis } from 'ioredis';
import postgres from 'postgres';

export const LOCAL_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
export const LOCAL_REDIS_URL = 'redis://127.0.0.1:6379';

/** A probe answers undefined when the server is usable, or why it is not. */
export interface ServerProbes {
  postgres(url: string): Promise<string | undefined>;
  redis(url: string): Promise<string | undefined>;
  docker(): Promise<string | undefined>;
}

export type ServerChoice = { kind: 'env' | 'local'; url: string } | { kind: 'container' };

export type TestServerPlan = { ok: true; postgres: ServerChoice; redis: ServerChoice } | { ok: false; message: string };

/** The decision, with the probes passed in so it can be tested without stopping the shared servers. */
export async function chooseTestServers(
  env: Record<string, string | undefined>,
  probes: ServerProbes,
): Promise<TestServerPlan> {
  let docker: Promise<string | undefined> | undefined;
  const dockerProblem = () => (docker ??= probes.docker());
  const problems: string[] = [];

  async function choose(
    name: 'Postgres' | 'Redis',
    variable: string,
    localUrl: string,
    probe: (url: string) => Promise<string | undefined>,
  ) {
    const fromEnv = env[variable];
    if (fromEnv) return { kind: 'env', url: fromEnv } as const;
    const localProblem = await probe(localUrl);
    if (localProblem === undefined) return { kind: 'local', url: localUrl } as const;
    const noDocker = await dockerProblem();
    if (noDocker === undefined) return { kind: 'container' } as const;
    problems.push(
      `${name}: ${variable} is not set, ${new URL(localUrl).host} did not answer (${localProblem}), ` +
        `and no Docker engine answered for testcontainers (${noDocker})`,
    );
    return undefined;
  }

  const chosenPostgres = await choose('Postgres', 'TEST_DATABASE_URL', LOCAL_POSTGRES_URL, probes.postgres);
  const chosenRedis = await choose('Redis', 'TEST_REDIS_URL', LOCAL_REDIS_URL, probes.redis);
  if (chosenPostgres && chosenRedis) return { ok: true, postgres: chosenPostgres, redis: chosenRedis };
  return {
    ok: false,
    message: [
      'The tests need Postgres 15+ and Redis 7, and found no way to reach them:',
      ...problems.map((problem) => `  - ${problem}`),
      'Do one of these:',
      '  - start Postgres (user postgres, trust auth) on 127.0.0.1:5432 and Redis on 127.0.0.1:6379' +
        ' (.ci/run does this);',
      `  - set TEST_DATABASE_URL (e.g. ${LOCAL_POSTGRES_URL}) and TEST_REDIS_URL (e.g. ${LOCAL_REDIS_URL});`,
      '  - start Docker, so the tests can run both in containers.',
    ].join('\n'),
  };
}

const PROBE_TIMEOUT_S = 2;

function reason(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  return code && !message?.includes(code) ? `${code}: ${message}` : (message ?? String(error));
}

/** A real `select 1`, so a port that answers but refuses the login is not taken for a usable server. */
async function probePostgres(url: string): Promise<string | undefined> {
  const sql = postgres(url, { max: 1, connect_timeout: PROBE_TIMEOUT_S, onnotice: () => {} });
  try {
    await sql`select 1`;
    return undefined;
  } catch (error) {
    return reason(error);
  } finally {
    await sql.end({ timeout: 1 }).catch(() => {});
  }
}

async function probeRedis(url: string): Promise<string | undefined> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: PROBE_TIMEOUT_S * 1000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  // connect() rejects with a bare "Connection is closed."; the 'error' event has the cause.
  let cause: unknown;
  redis.on('error', (error) => (cause ??= error));
  try {
    await redis.connect();
    await redis.ping();
    return undefined;
  } catch (error) {
    return reason(cause ?? error);
  } finally {
    redis.disconnect();
  }
}

async function probeDocker(): Promise<string | undefined> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers');
    await getContainerRuntimeClient();
    return undefined;
  } catch (error) {
    return reason(error);
  }
}

export const realProbes: ServerProbes = { postgres: probePostgres, redis: probeRedis, docker: probeDocker };
