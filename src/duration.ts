/** Short durations (`30s`, `10m`, `12h`, `7d`) as rule windows and as relative times in event filters. */

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

const DURATION = /^([0-9]+)([smhd])$/;

export const DURATION_HINT = 'use a whole number followed by s, m, h or d, e.g. 30s, 10m, 12h, 7d';

/** Milliseconds in a positive duration such as `15m`, or undefined when the text is not one. */
export function tryParseDuration(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (!match) return undefined;
  const amount = Number(match[1]);
  const ms = amount * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  // Zero would make a window that never holds anything; a huge number would lose precision.
  if (amount === 0 || !Number.isSafeInteger(ms)) return undefined;
  return ms;
}
