/**
 * The container files, read as an operator's tooling would (there is no Docker engine to build them here): the
 * Dockerfile's runtime stage, what .dockerignore keeps out, and the variables docker-compose.yml passes through.
 */
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ENV_VARIABLES } from '../src/config.ts';

/** Dockerfile instructions with continuation lines joined, grouped by stage. */
function dockerStages(text: string): { from: string; instructions: [string, string][] }[] {
  const stages: { from: string; instructions: [string, string][] }[] = [];
  const joined = text.replace(/\\\n/g, ' ');
  for (const raw of joined.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const [keyword, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword === 'FROM') stages.push({ from: args, instructions: [] });
    else stages.at(-1)!.instructions.push([keyword!, args]);
  }
  return stages;
}

describe('the Dockerfile', () => {
  const stages = dockerStages(readFileSync('Dockerfile', 'utf8'));
  const runtime = stages.at(-1)!;
  const all = (keyword: string) => runtime.instructions.filter(([k]) => k === keyword).map(([, args]) => args);

  it('builds in one stage and runs in a slim one with production dependencies only', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    expect(runtime.from).toMatch(/^node:20[\w.-]*-slim$/);
    const build = stages[0]!.instructions.map(([k, a]) => `${k} ${a}`).join('\n');
    expect(build).toContain('npm ci');
    expect(build).toContain('tsc -b tsconfig.build.json');
    expect(build).toContain('npm prune --omit=dev');
    const copied = all('COPY').join('\n');
    for (const left of ['test', 'bench', 'src', 'tsconfig'])
      expect(copied).not.toMatch(new RegExp(`(^|\\s)\\.?/?${left}`, 'm'));
    for (const needed of ['dist', 'node_modules', 'drizzle', 'rules', 'package.json']) expect(copied).toContain(needed);
  });

  it('runs node itself as a non-root user, listening on every interface, with a readiness health check', () => {
    expect(all('USER')).toEqual(['node']);
    expect(all('ENV').join(' ')).toMatch(/HOST=0\.0\.0\.0/);
    const [cmd] = all('CMD');
    expect(JSON.parse(cmd!)).toEqual(['node', 'dist/main.js']);
    expect(all('ENTRYPOINT')).toEqual([]);
    const [healthcheck] = all('HEALTHCHECK');
    expect(healthcheck).toMatch(/CMD \["node", "-e", ".*\/readyz/);
  });

  it('copies only files that exist in the repository', () => {
    for (const stage of stages) {
      for (const [keyword, args] of stage.instructions) {
        if (keyword !== 'COPY' || args.startsWith('--from')) continue;
        for (const source of args.split(/\s+/).slice(0, -1)) expect(existsSync(source), source).toBe(true);
      }
    }
  });
});

describe('.dockerignore', () => {
  it('keeps secrets, local installs, build output, tests and benchmarks out of the build context', () => {
    const ignored = readFileSync('.dockerignore', 'utf8')
      .split('\n')
      .map((l) => l.trim());
    for (const entry of ['.env', '.env.*', 'node_modules', 'dist', 'test', 'bench', '.git'])
      expect(ignored).toContain(entry);
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync('docker-compose.yml', 'utf8')) as {
    services: Record<string, { environment?: Record<string, string> }>;
  };
  const environment = compose.services.app!.environment!;

  it('passes every variable the service reads through to it, and the ones features read later', () => {
    const later = [
      'ALERT_MAX_AGE',
      'SEGMENT_PULL_WORKSPACE',
      'SEGMENT_PULL_INTERVAL',
      'SEGMENT_PULL_SINCE',
      'DIGEST_CHANNEL',
      'DIGEST_SIGNING_KEY',
      'RESOURCE_URLS',
    ];
    const missing = [...ENV_VARIABLES, ...later].filter((name) => !(name in environment));
    expect(missing).toEqual([]);
  });

  it('takes each one from the shell or .env, empty meaning the default, except where the containers are', () => {
    const fixed = ['HOST', 'PORT'];
    for (const [name, value] of Object.entries(environment)) {
      if (fixed.includes(name)) continue;
      expect(value, name).toMatch(new RegExp(`^\\$\\{${name}:-[^}]*\\}$`));
    }
    expect(environment.HOST).toBe('0.0.0.0');
  });
});
