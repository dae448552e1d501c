/** Making producer text inert in Slack mrkdwn, and cutting text to Block Kit limits without breaking it. */

/**
 * Escapes the three characters Slack treats as control characters (`&`, `<`, `>`), so text from a producer can
 * never form a mention (`<!channel>`, `<@U123>`), a link (`<https://…|…>`) or a date token.
 */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const ELLIPSIS = '…';
const ENTITY = /^&(?:amp|lt|gt);/;
/** The longest entity escapeMrkdwn produces (`&amp;`), so a cut can only split one that starts this close to it. */
const LONGEST_ENTITY = 5;

/**
 * Shortens text to at most `max` UTF-16 code units, ending in "…" when anything was cut. The cut never splits a
 * surrogate pair (Slack would reject or mangle the lone half) nor an entity made by escapeMrkdwn (a dangling `&am`
 * would show as garbage). Code units over-count characters, so the result also fits a limit counted in characters.
 */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max < ELLIPSIS.length) return '';
  let cut = max - ELLIPSIS.length;
  if (cut > 0 && isHighSurrogate(text.charCodeAt(cut - 1))) cut -= 1;
  const amp = text.lastIndexOf('&', cut - 1);
  if (amp >= 0 && amp > cut - LONGEST_ENTITY) {
    const entity = ENTITY.exec(text.slice(amp));
    if (entity && amp + entity[0].length > cut) cut = amp;
  }
  return text.slice(0, cut) + ELLIPSIS;
}

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * A time as Slack's date token, which each reader sees in their own time zone. The fallback after `|`
 * (for clients without date support) is rebuilt from the parsed time, so no producer text lands
 * inside the token; text that is not a time comes back escaped.
 */
export function slackDate(time: string | Date): string {
  const ms = typeof time === 'string' ? Date.parse(time) : time.getTime();
  if (Number.isNaN(ms)) return truncate(escapeMrkdwn(String(time)), 40);
  return `<!date^${Math.floor(ms / 1000)}^{date_short_pretty} {time}|${new Date(ms).toISOString()}>`;
}
