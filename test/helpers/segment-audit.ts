/**
 * Segment's own audit events as it really sends them: Audit Forwarding's track calls (shaped after the webhook
 * samples in segmentio/functions-library, sources/audit-forwarding) and the Public API's audit events
 * (AuditEventV1: id, timestamp, type, actor, actorEmail, resourceId, resourceType, resourceName).
 */
import { randomBytes } from 'node:crypto';

/** The Segment workspace of the samples. */
export const SEGMENT_WORKSPACE_ID = 'VWDxzzIpI5';

export interface WireName {
  /** The name Segment sends. */
  wire: string;
  /** The catalog type it stands for (SPEC section 7). */
  type: string;
  /** `details` as Segment's forwarding sends them for this kind of event. */
  details: Record<string, unknown>;
}

/** Every wire name SPEC section 7 lists (Permission Check has no twin and stays as it came). */
export const SPEC_WIRE_NAMES: readonly WireName[] = [
  {
    wire: 'Warehouse Disabled',
    type: 'Warehouses Disabled',
    details: {
      resource_id: 'HpLcqdFbPX',
      resource_type: 'warehouse',
      subject: 'users/MNxxtIRCbe',
      target: 'postgres',
      warehouse_id: 'HpLcqdFbPX',
    },
  },
  {
    wire: 'Integration Modified',
    type: 'Integrations Modified',
    details: {
      metadata_id: '56748689e954a874ca44ccfb',
      resource_id: '5dd8dc3618a12651f66fb8ed',
      resource_type: 'integration',
      source_id: 'LAn9KpdvNZ',
      subject: 'users/MNxxtIRCbe',
      target: 'Audit Function - Slack',
    },
  },
  {
    wire: 'Source Function Updated',
    type: 'Source Function Modified',
    details: {
      resource_id: 'LAn9KpdvNZ',
      resource_type: 'source',
      source_id: 'LAn9KpdvNZ',
      subject: 'users/MNxxtIRCbe',
      target: 'Audit Function',
    },
  },
  {
    wire: 'Destination Filter Disabled',
    type: 'Destination Filters Disabled',
    details: {
      resource_id:
        'workspaces/james9446/sources/audit_forwarding/destinations/webhooks/filters/df_1U0MEMv1mox9rloD2Jq2sc2Y2qW',
      resource_type: 'destination_filter',
      subject: 'users/MNxxtIRCbe',
      target: 'Drop "Permission Check" Audit Events ',
    },
  },
  {
    wire: 'New Event Allowed',
    type: 'Tracking Plan New Event Allowed',
    details: {
      blocked: 'false',
      message_id: '00645569-2bb7-42cf-8c64-df827c790773',
      name: 'Space Modified',
      planned: 'false',
      resource_id: 'LAn9KpdvNZ',
      resource_type: 'source',
      source_id: 'LAn9KpdvNZ',
      source_name: 'Audit Function',
      source_slug: 'audit_function',
      target: 'Audit Function',
      tracking_plan_connected: 'false',
      tracking_plan_id: '',
      type: 'track',
    },
  },
  {
    wire: 'Schema Event Blocked',
    type: 'Tracking Plan New Event Blocked',
    details: {
      description: '`Order Completed` set to block',
      resource_id: '3LcUdkMjau',
      resource_type: 'source',
      source_id: '3LcUdkMjau',
      subject: 'users/MNxxtIRCbe',
      target: 'JavaScript',
    },
  },
  {
    wire: 'Personas Warehouse Source Modified',
    type: 'Engage Warehouse Source Modified',
    details: {
      resource_id: 'spaces/default/warehouse-sources/whs_1U34CpJKr1BiqO933sY0y2Y4wT7',
      resource_type: 'personas_warehouse_source',
      subject: 'users/MNxxtIRCbe',
      target: 'Postgres Warehouse',
    },
  },
  {
    wire: 'Storage Destination Modified',
    type: 'Warehouses Modified',
    details: {
      resource_id: 'Qm1Xc0tBgE',
      resource_type: 'warehouse',
      subject: 'users/MNxxtIRCbe',
      target: 'Snowflake',
    },
  },
  {
    wire: 'Storage Destination Enabled',
    type: 'Warehouses Enabled',
    details: {
      resource_id: 'Qm1Xc0tBgE',
      resource_type: 'warehouse',
      subject: 'users/MNxxtIRCbe',
      target: 'Snowflake',
    },
  },
  {
    wire: 'Source Settings Modified',
    type: 'Source Modified',
    details: {
      resource_id: 'B4fc7r2vDB',
      resource_type: 'source',
      source_id: 'B4fc7r2vDB',
      subject: 'users/MNxxtIRCbe',
      target: 'iOS',
    },
  },
  {
    wire: 'Permission Check',
    type: 'Permission Check',
    details: {
      action: 'source:debugger-view',
      resource_id: 'B4fc7r2vDB',
      resource_type: 'source',
      sso_connection_id: '',
      subject_id: 'MNxxtIRCbe',
      subject_type: 'user',
    },
  },
];

/** A KSUID-like id, as Segment's `api-…` message ids and audit event ids look. */
export function ksuid(): string {
  return randomBytes(20).toString('base64url').replace(/[-_]/g, 'x').slice(0, 27);
}

export interface AuditCallOptions {
  /** `properties.type`. */
  type: string;
  details: Record<string, unknown>;
  /** When it happened; default now. */
  at?: Date;
  userId?: string;
  workspaceId?: string;
  messageId?: string;
  email?: string;
}

/** An Audit Forwarding track call, as the Webhooks destination posts it. */
export function auditCall(options: AuditCallOptions): Record<string, unknown> {
  const at = (options.at ?? new Date()).toISOString();
  const subject = options.details.subject;
  const userId = options.userId ?? (typeof subject === 'string' ? subject.split('/').at(-1) : '__system__');
  return {
    channel: 'server',
    context: { library: { name: 'unknown', version: 'unknown' } },
    event: 'Audit',
    integrations: {},
    messageId: options.messageId ?? `api-${ksuid()}`,
    originalTimestamp: at,
    properties: {
      details: options.details,
      type: options.type,
      workspace_id: options.workspaceId ?? SEGMENT_WORKSPACE_ID,
      ...(options.email && { email: options.email }),
    },
    receivedAt: at,
    replay: true,
    timestamp: at,
    type: 'track',
    userId,
  };
}

/** A Public API audit event (AuditEventV1). */
export interface PublicAuditEvent {
  id: string;
  timestamp: string;
  type: string;
  actor: string;
  actorEmail?: string;
  resourceId: string;
  resourceType: string;
  resourceName: string;
}

/** The Public API's view of the same event an audit call describes (same type, resource, time and actor). */
export function publicAuditEvent(options: AuditCallOptions): PublicAuditEvent {
  const subject = options.details.subject;
  const actor = options.userId ?? (typeof subject === 'string' ? subject.split('/').at(-1)! : '__system__');
  return {
    id: ksuid(),
    timestamp: (options.at ?? new Date()).toISOString(),
    type: options.type,
    actor,
    ...(options.email && { actorEmail: options.email }),
    resourceId: String(options.details.resource_id),
    resourceType: String(options.details.resource_type),
    resourceName: typeof options.details.target === 'string' ? options.details.target : '',
  };
}
