/**
 * Text Postgres refuses: NUL (in text and jsonb alike) and lone UTF-16 surrogates (jsonb refuses them; a text column
 * would silently store U+FFFD). Producers get a 400 for such text; what Slack sends must still be recorded (a refused
 * attempt, a revert, a toggle), so it is stored with each such character written as a visible `\u0000` escape.
 */

// Without the `u` flag a regular expression sees UTF-16 code units, which is what finds an unpaired half.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is this expression's job.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function storableText(text: string): string {
  return text.replace(UNSTORABLE, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** storableText on every string in a JSON value, object keys included. */
export function storableJson<T>(value: T): T {
  return escapeValue(value) as T;
}

function escapeValue(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(escapeValue);
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [storableText(key), escapeValue(inner)]));
  }
  return value;
}
