/** Starts the real service in-process on a free port, against a test database and its own queue prefix. */

import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { createService, type Service, type ServiceOptions } from '../../src/service.ts';
import { createIngestToken } from '../../src/store/tokens.ts';
import { deleteRedisPrefix, redisUrl, uniqueName } from './database.ts';

export interface TestService {
  service: Service;
  url: string;
  /** POST/GET helpers with a bearer token. */
  token(workspaceId: string): Promise<string>;
  stop(): Promise<void>;
}

/** Collects the service's JSON log lines, for tests that assert on what was logged. */
export function logCapture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n'))
        if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { lines, stream };
}

export async function startTestService(
  databaseUrl: string,
  env: Record<string, string> = {},
  options: ServiceOptions & { logStream?: Writable } = {},
): Promise<TestService> {
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl(),
    QUEUE_PREFIX: uniqueName('test'),
    PORT: '0',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ...env,
  });
  const service = createService(
    config,
    createLogger(options.logStream ? 'debug' : config.logLevel, options.logStream),
    options,
  );
  const url = await service.start();
  return {
    service,
    url,
    token: async (workspaceId) => (await createIngestToken(service.database.db, { workspaceId, name: 'test' })).token,
    async stop() {
      await service.stop(5000);
      await deleteRedisPrefix(config.queuePrefix);
    },
  };
}

export function postEvents(url: string, token: string, body: unknown, headers: Record<string, string> = {}) {
  return fetch(`${url}/v1/events`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

export function getEvents(url: string, token: string, query = '') {
  return fetch(`${url}/v1/events${query}`, { headers: { authorization: `Bearer ${token}` } });
}

let counter = 0;
/** A valid event; override any field. */
export function sampleEvent(overrides: Record<string, unknown> = {}) {
  counter += 1;
  return {
    type: 'Warehouses Disabled',
    actor: { type: 'user', id: 'usr_1', name: 'Jane Doe', email: 'jane@acme.com' },
    resource: { type: 'warehouse', id: `wh_${counter}`, name: 'Prod Snowflake' },
    changes: { before: { enabled: true }, after: { enabled: false } },
    ...overrides,
  };
}
