/** The alert's "Open" link: RESOURCE_URLS' template for the resource type, with the resource id put in. */
import type { Resource } from '../events.ts';

/** Slack refuses a button whose url is longer. */
const MAX_URL = 3000;

/**
 * The link for a resource, or undefined when its type has no template (or the id makes the URL too long for Slack).
 * The id is URL-encoded, so a producer's id can only ever land inside the path segment the template puts it in.
 */
export function resourceUrl(templates: ReadonlyMap<string, string>, resource: Resource): string | undefined {
  const template = templates.get(resource.type);
  if (!template) return undefined;
  const url = template.replaceAll('{id}', encodeURIComponent(resource.id));
  return url.length <= MAX_URL ? url : undefined;
}
