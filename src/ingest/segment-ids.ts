/**
 * One id for one Segment audit event, whichever way it arrived. Audit Forwarding's track call carries a `messageId`
 * (`api-1U4o6Izw…`) and the Public API's audit event an `id`, and nothing Segment documents says the two are the
 * same. What both carry is the Segment workspace, the type, the resource and the time, so the stored id is derived
 * from those: a push and a pull of the same event get the same id, and the store keeps one (the second is a
 * duplicate, neither stored nor alerted twice). Each path keeps Segment's own id in the metadata.
 */
import { hash } from 'node:crypto';
import { catalogTypeFor } from '../catalog.ts';

export interface SegmentEventKey {
  /** Segment's workspace id (`properties.workspace_id`, or the Public API token's workspace). */
  segmentWorkspaceId: string;
  /** The type as sent; wire names and catalog names give the same id. */
  type: string;
  /** As sent: Audit Forwarding may name a resource by its path (`…/filters/df_1`), the Public API by its id. */
  resourceId: string;
  /** When it happened, ISO 8601. */
  timestamp: string;
}

/**
 * `seg_` and 32 hex digits, or undefined when the timestamp is unreadable. Times are compared to the second and
 * resources by the last part of their path, because the two formats were seen to differ in both; two events of one
 * type on one resource within the same second of one workspace are therefore one event here.
 */
export function segmentAuditEventId(key: SegmentEventKey): string | undefined {
  const at = Date.parse(key.timestamp);
  if (Number.isNaN(at)) return undefined;
  const type = (catalogTypeFor(key.type) ?? key.type).toLowerCase();
  const resource = key.resourceId.split('/').at(-1) ?? key.resourceId;
  const material = JSON.stringify([key.segmentWorkspaceId, type, resource, Math.floor(at / 1000)]);
  // The one-shot hash: every pushed and pulled event takes this step, and it is twice as fast as createHash here.
  return `seg_${hash('sha256', material).slice(0, 32)}`;
}
