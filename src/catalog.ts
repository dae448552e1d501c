/** The event catalog (SPEC section 7): every known type, its category, and how a revertible one is undone. */

export const CATALOG = {
  'Access Management': [
    'User Invite Sent', 'User Invite Deleted', 'User Invite Accepted', 'User Added via SSO',
    'User Removed', 'User Group Created', 'User Group Updated',
  ],
  Source: ['Source Created', 'Source Enabled', 'Source Disabled', 'Source Modified', 'Source Deleted'],
  Integrations: [
    'Integrations Created', 'Integrations Enabled', 'Integrations Disabled', 'Integrations Modified',
    'Integrations Deleted',
  ],
  Functions: [
    'Source Function Created', 'Source Function Deleted', 'Source Function Modified',
    'Destination Function Created', 'Destination Function Deleted', 'Destination Function Modified',
  ],
  'Destination Filters': [
    'Destination Filters Created', 'Destination Filters Modified', 'Destination Filters Deleted',
  ],
  Warehouses: [
    'Warehouses Created', 'Warehouses Enabled', 'Warehouses Disabled', 'Warehouses Modified',
    'Warehouses Deleted', 'Warehouse Run Failed',
  ],
  Protocols: [
    'Tracking Plan Created', 'Tracking Plan Modified', 'Tracking Plan Deleted',
    'Source Connected to Tracking Plan', 'Source Disconnected From Tracking Plan', 'Tracking Plan Inferred',
    'Tracking Plan New Event Blocked', 'Tracking Plan New Event Allowed',
    'Tracking Plan New Group Trait Omitted', 'Tracking Plan New Identify Trait Omitted',
    'Tracking Plan New Track Property Omitted', 'Tracking Plan Operations Updated', 'Tracking Plan Updated',
    'Violations Detected',
  ],
  Engage: [
    'Source Connected To Space', 'Source Disconnected From Space', 'Space Created', 'Space Modified',
    'Space Deleted', 'Computed Trait Created', 'Computed Trait Modified', 'Computed Trait Deleted',
    'Computed Trait CSV Downloaded', 'Computed Trait Run Failed', 'Computed Trait Destination Sync Failed',
    'Audience Created', 'Audience Modified', 'Audience Deleted', 'Audience CSV Downloaded',
    'Audience Run Failed', 'Audience Destination Sync Failed', 'Engage Warehouse Source Created',
    'Engage Warehouse Source Modified', 'Engage Warehouse Source Deleted',
  ],
} as const satisfies Record<string, readonly string[]>;

export type Category = keyof typeof CATALOG;
export type CatalogType = (typeof CATALOG)[Category][number];

/** Category of a type outside the catalog: stored all the same, never dropped. */
export const OTHER_CATEGORY = 'Other';

export const CATEGORIES = Object.keys(CATALOG) as Category[];
export const ALL_CATEGORIES: readonly string[] = [...CATEGORIES, OTHER_CATEGORY];

const categoryByType = new Map<string, Category>(
  CATEGORIES.flatMap((category) => CATALOG[category].map((type) => [type, category] as const)),
);

export const EVENT_TYPES: readonly string[] = [...categoryByType.keys()];

export function isCatalogType(type: string): type is CatalogType {
  return categoryByType.has(type);
}

export function categoryOf(type: string): string {
  return categoryByType.get(type) ?? OTHER_CATEGORY;
}

/**
 * How the Segment Public API undoes a revertible event (SPEC section 7). Issue 4's Revert button
 * turns one of these into HTTP calls; the alert builder only needs to know whether one exists.
 */
export type RevertPlan =
  /** PATCH `{path}/{resource.id}` with `{enabled}`. */
  | { kind: 'toggle'; path: 'sources' | 'destinations'; enabled: boolean; inverseType: CatalogType }
  /** GET then PATCH `/warehouses/{id}` with `{enabled, settings}` from the GET. */
  | { kind: 'warehouse-toggle'; enabled: boolean; inverseType: CatalogType }
  /** PATCH the resource with the listed fields of `changes.before`. */
  | { kind: 'restore'; target: RestoreTarget; fields: readonly string[]; inverseType: CatalogType };

export type RestoreTarget = 'sources' | 'destinations' | 'warehouses' | 'destination-filters' | 'functions' | 'tracking-plans';

/** How a person calls each kind of resource a revert touches. */
export const RESOURCE_NOUN: Readonly<Record<RestoreTarget, string>> = {
  sources: 'source',
  destinations: 'destination',
  warehouses: 'warehouse',
  'destination-filters': 'destination filter',
  functions: 'function',
  'tracking-plans': 'tracking plan',
};

const RESOURCE_FIELDS = ['name', 'enabled', 'settings'] as const;

export const REVERT_MAP: Readonly<Partial<Record<CatalogType, RevertPlan>>> = {
  'Source Disabled': { kind: 'toggle', path: 'sources', enabled: true, inverseType: 'Source Enabled' },
  'Source Enabled': { kind: 'toggle', path: 'sources', enabled: false, inverseType: 'Source Disabled' },
  'Integrations Disabled': { kind: 'toggle', path: 'destinations', enabled: true, inverseType: 'Integrations Enabled' },
  'Integrations Enabled': { kind: 'toggle', path: 'destinations', enabled: false, inverseType: 'Integrations Disabled' },
  'Warehouses Disabled': { kind: 'warehouse-toggle', enabled: true, inverseType: 'Warehouses Enabled' },
  'Warehouses Enabled': { kind: 'warehouse-toggle', enabled: false, inverseType: 'Warehouses Disabled' },
  'Source Modified': { kind: 'restore', target: 'sources', fields: RESOURCE_FIELDS, inverseType: 'Source Modified' },
  'Integrations Modified': { kind: 'restore', target: 'destinations', fields: RESOURCE_FIELDS, inverseType: 'Integrations Modified' },
  'Warehouses Modified': { kind: 'restore', target: 'warehouses', fields: RESOURCE_FIELDS, inverseType: 'Warehouses Modified' },
  'Destination Filters Modified': {
    kind: 'restore', target: 'destination-filters',
    fields: ['enabled', 'if', 'actions', 'title', 'description'], inverseType: 'Destination Filters Modified',
  },
  'Source Function Modified': {
    kind: 'restore', target: 'functions', fields: ['code', 'settings', 'displayName', 'description'],
    inverseType: 'Source Function Modified',
  },
  'Destination Function Modified': {
    kind: 'restore', target: 'functions', fields: ['code', 'settings', 'displayName', 'description'],
    inverseType: 'Destination Function Modified',
  },
  'Tracking Plan Modified': {
    kind: 'restore', target: 'tracking-plans', fields: ['name', 'description'], inverseType: 'Tracking Plan Modified',
  },
};

/** The revert plan for an event, or undefined when it cannot be undone safely. */
export function revertPlanFor(event: {
  type: string;
  changes?: Record<string, unknown> | null;
  metadata?: Record<string, unknown> | null;
}): RevertPlan | undefined {
  const plan = revertPlanForChange(event);
  // A filter lives under its destination: without the destination's id there is nothing to PATCH.
  if (plan?.kind === 'restore' && plan.target === 'destination-filters' && typeof event.metadata?.destinationId !== 'string') {
    return undefined;
  }
  return plan;
}

/** The revert table's row for a type, whatever the event carries. */
export function revertPlanForType(type: string): RevertPlan | undefined {
  return isCatalogType(type) ? REVERT_MAP[type] : undefined;
}

/** The plan by type and `changes.before` alone, before checking the event says where the resource lives. */
export function revertPlanForChange(event: { type: string; changes?: Record<string, unknown> | null }): RevertPlan | undefined {
  const plan = revertPlanForType(event.type);
  if (!plan) return undefined;
  if (plan.kind === 'restore') {
    const before = event.changes?.before;
    if (!before || typeof before !== 'object') return undefined;
    const hasField = plan.fields.some((field) => field in (before as Record<string, unknown>));
    if (!hasField) return undefined;
  }
  return plan;
}
