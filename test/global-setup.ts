/**
 * Gives every test file a Postgres server URL and a Redis URL: from TEST_DATABASE_URL / TEST_REDIS_URL,
 * else the local servers on their default ports, else containers (testcontainers), so `npm test` works
 * as written on a machine with either local servers or Docker (see helpers/test-servers.ts).
 */
import type { TestProject } from 'vitest/node';
import { chooseTestServers, realProbes } from './helpers/test-servers.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
  }
}

export default async function setup(project: TestProject) {
  const plan = await chooseTestServers(process.env, realProbes);
  if (!plan.ok) {
    // Thrown, the error would be printed under vitest's "No test files found", which sends people
    // looking at the include pattern instead of at the missing servers.
    process.stderr.write(`\n${plan.message}\n\n`);
    process.exit(1);
  }
  const stops: (() => Promise<unknown>)[] = [];
  let databaseUrl: string;
  let redisUrl: string;
  if (plan.postgres.kind === 'container') {
    const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
    const container = await new PostgreSqlContainer('postgres:16-alpine').start();
    stops.push(() => container.stop());
    databaseUrl = container.getConnectionUri();
  } else {
    databaseUrl = plan.postgres.url;
  }
  if (plan.redis.kind === 'container') {
    const { RedisContainer } = await import('@testcontainers/redis');
    const container = await new RedisContainer('redis:7-alpine').start();
    stops.push(() => container.stop());
    redisUrl = container.getConnectionUrl();
  } else {
    redisUrl = plan.redis.url;
  }
  project.provide('databaseUrl', databaseUrl);
  project.provide('redisUrl', redisUrl);
  return async () => {
    await Promise.all(stops.map((stop) => stop()));
  };
}
