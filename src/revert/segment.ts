/** Reverts events through the Segment Public API: one call sequence per row of the revert table (SPEC section 7). */
import {
  RESOURCE_NOUN,
  type RestoreTarget,
  type RevertPlan,
  revertPlanFor,
  revertPlanForChange,
  revertPlanForType,
} from '../catalog.ts';
import type { StoredEvent } from '../events.ts';
import { isRecord } from '../json.ts';
import type { Logger } from '../logger.ts';
import {
  createSegmentClient,
  type RetryPolicy,
  SegmentApiError,
  type SegmentClient,
  type SegmentData,
} from './segment-client.ts';
import type { RevertFailure, RevertSuccess, RevertTarget } from './types.ts';

export interface SegmentRevertTargetOptions {
  /** SEGMENT_API_URL, no trailing slash. */
  apiUrl: string;
  /** SEGMENT_API_TOKEN. */
  apiToken: string;
  logger: Logger;
  fetchImpl?: typeof fetch;
  /** Per request attempt; 10 s unless given. */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
}

/** The key under `data` in Segment's answers for each resource. */
const DATA_KEY: Readonly<Record<RestoreTarget, string>> = {
  sources: 'source',
  destinations: 'destination',
  warehouses: 'warehouse',
  'destination-filters': 'filter',
  functions: 'function',
  'tracking-plans': 'trackingPlan',
};

/** Where a resource lives in the Public API, and how to name it to a person. */
interface Located {
  target: RestoreTarget;
  path: string;
  label: string;
}

/** A revert refused before (or between) calls, for a reason a person can act on; never retryable. */
class RevertRefusal extends Error {}

export function createSegmentRevertTarget(options: SegmentRevertTargetOptions): RevertTarget {
  const client = createSegmentClient({
    apiUrl: options.apiUrl,
    apiToken: options.apiToken,
    logger: options.logger,
    ...(options.fetchImpl ? { fetchImpl: options.fetchImpl } : {}),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    ...(options.retry ? { retry: options.retry } : {}),
  });
  const log = options.logger.child({ revertTarget: 'segment' });

  return {
    name: 'segment',
    canRevert: (event) => revertPlanFor(event) !== undefined,
    async revert(event) {
      const eventLog = log.child({ eventId: event.id, eventType: event.type });
      // By change alone, so a filter event without its destination gets locate()'s specific reason.
      const plan = revertPlanForChange(event);
      if (!plan) return refuse(notRevertibleReason(event));
      const located = locate(plan, event);
      if (typeof located === 'string') return refuse(located);

      try {
        const outcome = await runPlan(client, plan, located, event);
        eventLog.info({ inverseType: outcome.inverseType, path: located.path }, 'reverted in Segment');
        return outcome;
      } catch (error) {
        const failure = toFailure(error, located, options.apiToken);
        if (error instanceof SegmentApiError || error instanceof RevertRefusal) {
          eventLog.warn(
            {
              path: located.path,
              status: error instanceof SegmentApiError ? error.status : undefined,
              reason: failure.reason,
            },
            'revert in Segment failed',
          );
        } else {
          eventLog.error({ err: error, path: located.path }, 'revert in Segment failed unexpectedly');
        }
        return failure;
      }
    },
  };
}

async function runPlan(
  client: SegmentClient,
  plan: RevertPlan,
  at: Located,
  event: StoredEvent,
): Promise<RevertSuccess> {
  switch (plan.kind) {
    case 'toggle': {
      const answer = resourceIn(await client.patch(at.path, { enabled: plan.enabled }), at.target);
      return {
        ok: true,
        inverseType: plan.inverseType,
        summary: toggleSummary(plan.enabled, at.label),
        changes: { before: { enabled: !plan.enabled }, after: { enabled: booleanOr(answer?.enabled, plan.enabled) } },
      };
    }
    case 'warehouse-toggle': {
      // Segment's UpdateWarehouseV1Input requires settings; sending back what it just gave us changes nothing else.
      const current = await currentWarehouse(client, at);
      const answer = resourceIn(
        await client.patch(at.path, { enabled: plan.enabled, settings: current.settings }),
        at.target,
      );
      return {
        ok: true,
        inverseType: plan.inverseType,
        summary: toggleSummary(plan.enabled, at.label),
        changes: {
          before: { enabled: booleanOr(current.enabled, !plan.enabled) },
          after: { enabled: booleanOr(answer?.enabled, plan.enabled) },
        },
      };
    }
    case 'restore': {
      const restored = pick(asRecord(event.changes?.before), plan.fields);
      const body: Record<string, unknown> = { ...restored, ...removedSettings(at, restored, event) };
      // A warehouse PATCH without settings is refused, so a change that left them alone sends the current ones.
      if (at.target === 'warehouses' && !('settings' in body))
        body.settings = (await currentWarehouse(client, at)).settings;
      await client.patch(at.path, body);
      const fields = Object.keys(restored);
      return {
        ok: true,
        inverseType: plan.inverseType,
        summary: `Restored ${listWords(fields)} of ${at.label}`,
        // The inverse change goes from what the original event left behind to what it had replaced.
        changes: { before: pick(asRecord(event.changes?.after), fields), after: restored },
      };
    }
  }
}

/** Where Segment upserts `settings` key by key (a PATCH leaves keys it does not name), and takes null to remove one. */
const UPSERTS_SETTINGS: ReadonlySet<RestoreTarget> = new Set(['sources', 'destinations', 'warehouses']);

/**
 * Restoring `changes.before.settings` alone would leave the keys the change added; each is sent as null, as Segment's
 * own Terraform provider does. Nothing when the event does not give both sides' settings as objects.
 */
function removedSettings(at: Located, restored: Record<string, unknown>, event: StoredEvent): Record<string, unknown> {
  const before = restored.settings;
  const after = asRecord(event.changes?.after).settings;
  if (!UPSERTS_SETTINGS.has(at.target) || !isRecord(before) || !isRecord(after)) return {};
  const added = Object.keys(after).filter((key) => !(key in before));
  if (added.length === 0) return {};
  return { settings: { ...before, ...Object.fromEntries(added.map((key) => [key, null])) } };
}

async function currentWarehouse(
  client: SegmentClient,
  at: Located,
): Promise<{ settings: Record<string, unknown>; enabled: unknown }> {
  const warehouse = resourceIn(await client.get(at.path), at.target);
  const settings = warehouse?.settings;
  if (!isRecord(settings)) {
    throw new RevertRefusal(
      `Segment's answer for the ${at.label} carried no settings, which a warehouse change must send back`,
    );
  }
  return { settings, enabled: warehouse?.enabled };
}

function locate(plan: RevertPlan, event: StoredEvent): Located | string {
  const target: RestoreTarget =
    plan.kind === 'toggle' ? plan.path : plan.kind === 'warehouse-toggle' ? 'warehouses' : plan.target;
  const id = event.resource.id;
  if (target !== 'destination-filters') {
    return { target, path: `/${target}/${encodeURIComponent(id)}`, label: `${RESOURCE_NOUN[target]} ${id}` };
  }
  const destinationId = destinationIdOf(event);
  if (!destinationId) {
    return (
      `The event does not say which destination the filter ${id} belongs to (metadata.destinationId), ` +
      'and Segment addresses filters only through their destination'
    );
  }
  const filterId = filterIdOf(id);
  return {
    target,
    path: `/destination/${encodeURIComponent(destinationId)}/filters/${encodeURIComponent(filterId)}`,
    label: `destination filter ${filterId} of destination ${destinationId}`,
  };
}

/**
 * Segment's Audit Forwarding names a filter by its path (`workspaces/w/sources/s/destinations/d/filters/df_1`); the
 * Public API wants the last part alone.
 */
function filterIdOf(resourceId: string): string {
  const at = resourceId.lastIndexOf('/filters/');
  return at < 0 ? resourceId : resourceId.slice(at + '/filters/'.length);
}

function toFailure(error: unknown, at: Located, apiToken: string): RevertFailure {
  if (error instanceof RevertRefusal) return refuse(error.message);
  if (error instanceof SegmentApiError) {
    if (error.kind === 'not-found') return refuse(`Segment says the ${at.label} does not exist (404)`);
    return { ok: false, reason: error.reason, retryable: error.retryable };
  }
  const message = error instanceof Error ? error.message : String(error);
  return refuse(`the revert failed unexpectedly: ${apiToken ? message.replaceAll(apiToken, '[redacted]') : message}`);
}

function notRevertibleReason(event: StoredEvent): string {
  const plan = revertPlanForType(event.type);
  if (plan?.kind === 'restore') {
    return (
      `“${event.type}” can be reverted only when the event carries changes.before with ` +
      `${listWords(plan.fields, 'or')}, and this one does not`
    );
  }
  if (/ (Created|Deleted)$/.test(event.type)) {
    return `“${event.type}” events are not revertible: a blind re-create or delete risks data`;
  }
  return `“${event.type}” events cannot be reverted`;
}

function refuse(reason: string): RevertFailure {
  return { ok: false, reason, retryable: false };
}

function toggleSummary(enabled: boolean, label: string): string {
  return enabled ? `Re-enabled ${label}` : `Disabled ${label} again`;
}

/** The resource inside an unwrapped `data`; a tracking plan PATCH may answer only `{ status }`, hence undefined. */
function resourceIn(data: SegmentData, target: RestoreTarget): Record<string, unknown> | undefined {
  const resource = data[DATA_KEY[target]];
  return isRecord(resource) ? resource : undefined;
}

function destinationIdOf(event: StoredEvent): string | undefined {
  const id = event.metadata?.destinationId;
  return typeof id === 'string' && id.trim() !== '' ? id : undefined;
}

function pick(source: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(fields.filter((field) => field in source).map((field) => [field, source[field]]));
}

function listWords(words: readonly string[], conjunction = 'and'): string {
  if (words.length <= 1) return words.join('');
  return `${words.slice(0, -1).join(', ')} ${conjunction} ${words.at(-1)}`;
}

function booleanOr(value: unknown, fallback: boolean): boolean {
  return typeof value === 'boolean' ? value : fallback;
}

function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}
