import { describe, expect, it } from 'vitest';
import { redisUrl, serverUrl } from './database.ts';
import { freePort } from './redis-server.ts';
import {
  chooseTestServers,
  LOCAL_POSTGRES_URL,
  LOCAL_REDIS_URL,
  realProbes,
  type ServerProbes,
} from './test-servers.ts';

/** Probes that answer as told and record what was asked, so the order of the decision shows. */
function probes(answers: { postgres?: string; redis?: string; docker?: string }) {
  const asked: string[] = [];
  const answer = async (what: string, problem: string | undefined) => {
    asked.push(what);
    return problem;
  };
  const probe: ServerProbes = {
    postgres: (url) => answer(`postgres ${url}`, answers.postgres),
    redis: (url) => answer(`redis ${url}`, answers.redis),
    docker: () => answer('docker', answers.docker),
  };
  return { probe, asked };
}

describe('choosing the servers the tests run against', () => {
  it('uses TEST_DATABASE_URL and TEST_REDIS_URL when set, without probing anything', async () => {
    const { probe, asked } = probes({ postgres: 'refused', redis: 'refused', docker: 'none' });
    const plan = await chooseTestServers(
      { TEST_DATABASE_URL: 'postgres://db:1/x', TEST_REDIS_URL: 'redis://r:2' },
      probe,
    );
    expect(plan).toEqual({
      ok: true,
      postgres: { kind: 'env', url: 'postgres://db:1/x' },
      redis: { kind: 'env', url: 'redis://r:2' },
    });
    expect(asked).toEqual([]);
  });

  it('uses the servers on their default local ports when they answer, and never asks Docker', async () => {
    const { probe, asked } = probes({});
    const plan = await chooseTestServers({}, probe);
    expect(plan).toEqual({
      ok: true,
      postgres: { kind: 'local', url: LOCAL_POSTGRES_URL },
      redis: { kind: 'local', url: LOCAL_REDIS_URL },
    });
    expect(asked).toEqual([`postgres ${LOCAL_POSTGRES_URL}`, `redis ${LOCAL_REDIS_URL}`]);
  });

  it('falls back to a container, server by server, when the local one does not answer and Docker does', async () => {
    const { probe, asked } = probes({ postgres: 'ECONNREFUSED' });
    const plan = await chooseTestServers({ TEST_REDIS_URL: 'redis://r:2' }, probe);
    expect(plan).toEqual({ ok: true, postgres: { kind: 'container' }, redis: { kind: 'env', url: 'redis://r:2' } });
    expect(asked).toEqual([`postgres ${LOCAL_POSTGRES_URL}`, 'docker']);
  });

  it('asks Docker once even when both local servers are missing', async () => {
    const { probe, asked } = probes({ postgres: 'ECONNREFUSED', redis: 'ECONNREFUSED' });
    const plan = await chooseTestServers({}, probe);
    expect(plan).toMatchObject({ ok: true, postgres: { kind: 'container' }, redis: { kind: 'container' } });
    expect(asked.filter((what) => what === 'docker')).toHaveLength(1);
  });

  it('fails with one message naming each missing server, why, and what to start or set', async () => {
    const { probe } = probes({
      redis: 'connect ECONNREFUSED 127.0.0.1:6379',
      docker: 'Could not find a working container runtime strategy',
    });
    const plan = await chooseTestServers({}, probe);
    expect(plan.ok).toBe(false);
    const message = (plan as { message: string }).message;
    expect(message).toContain(
      'Redis: TEST_REDIS_URL is not set, 127.0.0.1:6379 did not answer (connect ECONNREFUSED 127.0.0.1:6379)',
    );
    expect(message).toContain('no Docker engine answered');
    expect(message).not.toContain('Postgres: ');
    expect(message).toContain('set TEST_DATABASE_URL');
    expect(message).toContain('start Docker');
  });
});

describe('the real probes', () => {
  it('find the servers this suite runs against usable', async () => {
    expect(await realProbes.postgres(serverUrl())).toBeUndefined();
    expect(await realProbes.redis(redisUrl())).toBeUndefined();
  });

  it('report a closed port quickly, with the reason', async () => {
    const port = await freePort();
    expect(await realProbes.postgres(`postgres://postgres@127.0.0.1:${port}/postgres`)).toMatch(/ECONNREFUSED/);
    expect(await realProbes.redis(`redis://127.0.0.1:${port}`)).toMatch(/ECONNREFUSED/);
  });
});
