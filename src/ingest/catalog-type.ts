/**
 * The step every ingest path (/v1/events, Segment push, Segment pull) takes before store/append: wire names to catalog
 * types.
 */
import { normaliseEventType } from '../catalog.ts';
import type { IncomingEvent } from '../events.ts';

/**
 * The event under its catalog type (`Warehouse Disabled` → Warehouses Disabled), with the name as sent kept in
 * `metadata.segmentType` unless the producer put something there already; unchanged when the type needs nothing.
 */
export function withCatalogType(event: IncomingEvent): IncomingEvent {
  const { type, wireName } = normaliseEventType(event.type);
  if (wireName === undefined) return event;
  const metadata = event.metadata ?? {};
  return { ...event, type, metadata: 'segmentType' in metadata ? metadata : { ...metadata, segmentType: wireName } };
}
