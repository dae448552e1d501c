/** `send`: posts one event to a running service, for trying it out. */
import { parseArgs } from 'node:util';
import type { Config } from '../config.ts';
import { type CliIo, UsageError } from './run.ts';

function jsonOption(name: string, text: string | undefined): Record<string, unknown> | undefined {
  if (text === undefined) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new UsageError(`--${name} must be a JSON object, e.g. '{"key":"value"}'`);
}

export const SEND_USAGE = `usage: npm run -s cli -- send --type T --actor A --resource-type RT --resource-id RID [opts]

  Posts one event to a running service (POST /v1/events), for trying it out; prints the status and the answer.

  --type T             event type, e.g. "Warehouses Disabled"
  --actor A            actor id                      --actor-type user|token|system (default user)
  --actor-name N       actor display name            --actor-email E
  --resource-type RT   e.g. warehouse                --resource-id RID
  --resource-name N    resource display name         --id ID   your event id (the idempotency key)
  --changes JSON       e.g. '{"before":{"enabled":true},"after":{"enabled":false}}'
  --metadata JSON      any JSON object
  --url URL            the service (default http://HOST:PORT from the environment)
  --token T            a producer token; better: AUDIT_TOKEN=… in the environment, which neither npm
                       nor the process list shows`;

export async function sendCommand(config: Config, env: NodeJS.ProcessEnv, args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      type: { type: 'string' },
      id: { type: 'string' },
      actor: { type: 'string' },
      'actor-type': { type: 'string', default: 'user' },
      'actor-name': { type: 'string' },
      'actor-email': { type: 'string' },
      'resource-type': { type: 'string' },
      'resource-id': { type: 'string' },
      'resource-name': { type: 'string' },
      changes: { type: 'string' },
      metadata: { type: 'string' },
      url: { type: 'string' },
      token: { type: 'string' },
    },
  });
  const missing = (['type', 'actor', 'resource-type', 'resource-id'] as const).filter((key) => !values[key]);
  if (missing.length) throw new UsageError(`send needs ${missing.map((m) => `--${m}`).join(', ')}`);
  const token = values.token ?? env.AUDIT_TOKEN;
  if (!token) throw new UsageError('send needs --token T or the AUDIT_TOKEN environment variable (see tokens create)');
  const host = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  const base = values.url ?? `http://${host.includes(':') ? `[${host}]` : host}:${config.port}`;

  const event = {
    id: values.id,
    type: values.type,
    actor: { type: values['actor-type'], id: values.actor, name: values['actor-name'], email: values['actor-email'] },
    resource: { type: values['resource-type'], id: values['resource-id'], name: values['resource-name'] },
    changes: jsonOption('changes', values.changes),
    metadata: jsonOption('metadata', values.metadata),
  };
  let response: Response;
  try {
    response = await fetch(new URL('/v1/events', base), {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(event),
    });
  } catch (error) {
    const { cause } = error as Error;
    io.err(`could not reach ${base}: ${cause instanceof Error ? cause.message : (error as Error).message}`);
    return 1;
  }
  const body = await response.text();
  (response.ok ? io.out : io.err)(`${response.status} ${body}`);
  return response.ok ? 0 : 1;
}
