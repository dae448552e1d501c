/** Filters in words, for the headers of /audit pages and export summaries. */
import type { EventFilters } from '../../store/queries.ts';

/**
 * A one-line summary of filters, e.g. `type: Warehouses Disabled, actor: jane@acme.com, since 2026-11-18`; empty when
 * there are none. Plain text with the producer's and user's words in it: escape it when rendering.
 */
export function describeFilters(filters: EventFilters): string {
  const parts: string[] = [];
  if (filters.types?.length) parts.push(`type: ${filters.types.join(' or ')}`);
  if (filters.category) parts.push(`category: ${filters.category}`);
  if (filters.actor) parts.push(`actor: ${filters.actor}`);
  if (filters.actorType) parts.push(`actor type: ${filters.actorType}`);
  if (filters.resourceType) parts.push(`resource type: ${filters.resourceType}`);
  if (filters.resourceId) parts.push(`resource: ${filters.resourceId}`);
  if (filters.since) parts.push(`since ${describeTime(filters.since)}`);
  if (filters.until) parts.push(`until ${describeTime(filters.until)}`);
  return parts.join(', ');
}

/** A date alone at midnight UTC (what `since:2026-11-18` means), otherwise the minute in UTC. */
function describeTime(date: Date): string {
  const iso = date.toISOString();
  return iso.endsWith('T00:00:00.000Z') ? iso.slice(0, 10) : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}
