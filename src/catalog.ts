/**
 * The event catalog (SPEC section 7): every known type, its category, the wire names Segment sends for them, and how
 * a revertible one is undone.
 */

export const CATALOG = {
  'Access Management': [
    'User Invite Sent',
    'User Invite Deleted',
    'User Invite Accepted',
    'User Added via SSO',
    'User Removed',
    'User Group Created',
    'User Group Updated',
  ],
  Source: ['Source Created', 'Source Enabled', 'Source Disabled', 'Source Modified', 'Source Deleted'],
  Integrations: [
    'Integrations Created',
    'Integrations Enabled',
    'Integrations Disabled',
    'Integrations Modified',
    'Integrations Deleted',
  ],
  Functions: [
    'Source Function Created',
    'Source Function Deleted',
    'Source Function Modified',
    'Destination Function Created',
    'Destination Function Deleted',
    'Destination Function Modified',
  ],
  // Enabled and Disabled extend the seed's list: Segment emits them, and each undoes the other.
  'Destination Filters': [
    'Destination Filters Created',
    'Destination Filters Modified',
    'Destination Filters Deleted',
    'Destination Filters Enabled',
    'Destination Filters Disabled',
  ],
  Warehouses: [
    'Warehouses Created',
    'Warehouses Enabled',
    'Warehouses Disabled',
    'Warehouses Modified',
    'Warehouses Deleted',
    'Warehouse Run Failed',
  ],
  Protocols: [
    'Tracking Plan Created',
    'Tracking Plan Modified',
    'Tracking Plan Deleted',
    'Source Connected to Tracking Plan',
    'Source Disconnected From Tracking Plan',
    'Tracking Plan Inferred',
    'Tracking Plan New Event Blocked',
    'Tracking Plan New Event Allowed',
    'Tracking Plan New Group Trait Omitted',
    'Tracking Plan New Identify Trait Omitted',
    'Tracking Plan New Track Property Omitted',
    'Tracking Plan Operations Updated',
    'Tracking Plan Updated',
    'Violations Detected',
  ],
  Engage: [
    'Source Connected To Space',
    'Source Disconnected From Space',
    'Space Created',
    'Space Modified',
    'Space Deleted',
    'Computed Trait Created',
    'Computed Trait Modified',
    'Computed Trait Deleted',
    'Computed Trait CSV Downloaded',
    'Computed Trait Run Failed',
    'Computed Trait Destination Sync Failed',
    'Audience Created',
    'Audience Modified',
    'Audience Deleted',
    'Audience CSV Downloaded',
    'Audience Run Failed',
    'Audience Destination Sync Failed',
    'Engage Warehouse Source Created',
    'Engage Warehouse Source Modified',
    'Engage Warehouse Source Deleted',
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
 * Segment's wire names that the general rules below do not reach (SPEC section 7): seen in its Audit Forwarding
 * examples and Public API docs. Matched through the same word key as the rules, so `Schema Events Blocked` or a
 * lower-case spelling finds its row too.
 */
const WIRE_NAMES: Readonly<Record<string, CatalogType>> = {
  'New Event Allowed': 'Tracking Plan New Event Allowed',
  'New Event Blocked': 'Tracking Plan New Event Blocked',
  'Schema Event Allowed': 'Tracking Plan New Event Allowed',
  'Schema Event Blocked': 'Tracking Plan New Event Blocked',
  'Source Settings Modified': 'Source Modified',
};

/** Words that differ only by a plural `s` (`Warehouses`/`Warehouse`, `Filters`/`Filter`) read as one. */
function singular(word: string): string {
  return word.length > 3 && word.endsWith('s') && !word.endsWith('ss') ? word.slice(0, -1) : word;
}

/** A name in lower case with each word singular: `Integrations Modified` and `integration modified` agree. */
function wordKey(name: string): string {
  return name.trim().toLowerCase().split(/\s+/).map(singular).join(' ');
}

/**
 * The word key with Segment's older vocabulary read as the catalog's (SPEC section 7's general rules): Personas is
 * Engage, a Storage Destination is a warehouse, Schema is the Tracking Plan, Updated is Modified, and a bare
 * `Destination …` is an Integrations event (the catalog's word for destinations).
 */
function synonymKey(name: string): string {
  return wordKey(name)
    .replace(/^persona /, 'engage ')
    .replace(/^storage destination /, 'warehouse ')
    .replace(/^schema /, 'tracking plan ')
    .replace(/^destination (created|enabled|disabled|modified|deleted)$/, 'integration $1')
    .replace(/ updated$/, ' modified');
}

/**
 * Key → catalog type. A key two types share goes to the first one listed: `Tracking Plan Modified` owns
 * `tracking plan modified` (so `Schema Updated`-style names find it), and `Tracking Plan Updated`, which has the
 * same synonym key, is still found by its own word key first.
 */
function keyIndex(key: (name: string) => string): ReadonlyMap<string, CatalogType> {
  const index = new Map<string, CatalogType>();
  const types = EVENT_TYPES as readonly CatalogType[];
  // Types whose own words already read as the key go first, so a key never points at a mere synonym.
  for (const type of types) if (key(type) === wordKey(type) && !index.has(key(type))) index.set(key(type), type);
  for (const type of types) if (!index.has(key(type))) index.set(key(type), type);
  return index;
}

const byWordKey = keyIndex(wordKey);
const bySynonymKey = keyIndex(synonymKey);
const byWireName = new Map<string, CatalogType>(
  Object.entries(WIRE_NAMES).map(([wire, type]) => [synonymKey(wire), type]),
);

/**
 * The catalog type a name stands for: itself, or the type Segment means by a wire name (`Warehouse Disabled` →
 * Warehouses Disabled). Undefined for a name with no twin (`Permission Check`), which is stored as it came.
 */
export function catalogTypeFor(name: string): CatalogType | undefined {
  if (isCatalogType(name)) return name;
  if (resolvedNames.has(name)) return resolvedNames.get(name);
  const synonyms = synonymKey(name);
  const type = byWordKey.get(wordKey(name)) ?? byWireName.get(synonyms) ?? bySynonymKey.get(synonyms);
  // Every ingested event asks, and producers use a handful of names; the cap keeps a flood of made-up ones bounded.
  if (resolvedNames.size < MAX_RESOLVED_NAMES) resolvedNames.set(name, type);
  return type;
}

const MAX_RESOLVED_NAMES = 10_000;
const resolvedNames = new Map<string, CatalogType | undefined>();

/**
 * What every ingest path stores as an event's type: the catalog type for a catalog or wire name, else the name as
 * it came. `wireName` is the name as sent when it differs, kept by the caller in `metadata.segmentType`.
 */
export function normaliseEventType(name: string): { type: string; wireName?: string } {
  const type = catalogTypeFor(name);
  return type === undefined || type === name ? { type: name } : { type, wireName: name };
}

/**
 * How the Segment Public API undoes a revertible event (SPEC section 7). Issue 4's Revert button
 * turns one of these into HTTP calls; the alert builder only needs to know whether one exists.
 */
export type RevertPlan =
  /** PATCH `{path}/{resource.id}` with `{enabled}` (a filter's path goes through its destination). */
  | {
      kind: 'toggle';
      path: 'sources' | 'destinations' | 'destination-filters';
      enabled: boolean;
      inverseType: CatalogType;
    }
  /** GET then PATCH `/warehouses/{id}` with `{enabled, settings}` from the GET. */
  | { kind: 'warehouse-toggle'; enabled: boolean; inverseType: CatalogType }
  /** PATCH the resource with the listed fields of `changes.before`. */
  | { kind: 'restore'; target: RestoreTarget; fields: readonly string[]; inverseType: CatalogType };

export type RestoreTarget =
  | 'sources'
  | 'destinations'
  | 'warehouses'
  | 'destination-filters'
  | 'functions'
  | 'tracking-plans';

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
  'Integrations Enabled': {
    kind: 'toggle',
    path: 'destinations',
    enabled: false,
    inverseType: 'Integrations Disabled',
  },
  'Warehouses Disabled': { kind: 'warehouse-toggle', enabled: true, inverseType: 'Warehouses Enabled' },
  'Warehouses Enabled': { kind: 'warehouse-toggle', enabled: false, inverseType: 'Warehouses Disabled' },
  'Source Modified': { kind: 'restore', target: 'sources', fields: RESOURCE_FIELDS, inverseType: 'Source Modified' },
  'Integrations Modified': {
    kind: 'restore',
    target: 'destinations',
    fields: RESOURCE_FIELDS,
    inverseType: 'Integrations Modified',
  },
  'Warehouses Modified': {
    kind: 'restore',
    target: 'warehouses',
    fields: RESOURCE_FIELDS,
    inverseType: 'Warehouses Modified',
  },
  'Destination Filters Disabled': {
    kind: 'toggle',
    path: 'destination-filters',
    enabled: true,
    inverseType: 'Destination Filters Enabled',
  },
  'Destination Filters Enabled': {
    kind: 'toggle',
    path: 'destination-filters',
    enabled: false,
    inverseType: 'Destination Filters Disabled',
  },
  'Destination Filters Modified': {
    kind: 'restore',
    target: 'destination-filters',
    fields: ['enabled', 'if', 'actions', 'title', 'description'],
    inverseType: 'Destination Filters Modified',
  },
  'Source Function Modified': {
    kind: 'restore',
    target: 'functions',
    fields: ['code', 'settings', 'displayName', 'description'],
    inverseType: 'Source Function Modified',
  },
  'Destination Function Modified': {
    kind: 'restore',
    target: 'functions',
    fields: ['code', 'settings', 'displayName', 'description'],
    inverseType: 'Destination Function Modified',
  },
  'Tracking Plan Modified': {
    kind: 'restore',
    target: 'tracking-plans',
    fields: ['name', 'description'],
    inverseType: 'Tracking Plan Modified',
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
  const target = plan?.kind === 'restore' ? plan.target : plan?.kind === 'toggle' ? plan.path : undefined;
  if (target === 'destination-filters' && typeof event.metadata?.destinationId !== 'string') return undefined;
  return plan;
}

/** The revert table's row for a type (or its wire name, for an event stored before names were normalised). */
export function revertPlanForType(type: string): RevertPlan | undefined {
  const catalogType = catalogTypeFor(type);
  return catalogType === undefined ? undefined : REVERT_MAP[catalogType];
}

/** The plan by type and `changes.before` alone, before checking the event says where the resource lives. */
export function revertPlanForChange(event: {
  type: string;
  changes?: Record<string, unknown> | null;
}): RevertPlan | undefined {
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
