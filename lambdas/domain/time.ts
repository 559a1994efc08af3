/** Every timestamp on the wire is ISO-8601 UTC with milliseconds and `Z` (docs/upstream.md, decision 6). */
export function isoNow(now: number = Date.now()): string {
  return new Date(now).toISOString();
}

export function epochSeconds(now: number = Date.now()): number {
  return Math.floor(now / 1000);
}

/**
 * Parses an `expires` argument: `never`, or any date-time Date.parse accepts that names its time zone
 * (`2026-01-09T03:05:30.623Z`, `2024-11-13 12:50:15+03`). Returns null when it cannot be read.
 */
export function parseExpiry(raw: string): 'never' | string | null {
  if (raw === 'never') return 'never';
  let text = raw.trim();
  // PostgreSQL style "2024-11-13 12:50:15+03": make it ISO so Date.parse reads the offset.
  const pg = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)([+-]\d{2})(?::?(\d{2}))?$/.exec(text);
  if (pg) text = `${pg[1]}T${pg[2]}${pg[3]}:${pg[4] ?? '00'}`;
  if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(text)) return null;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) return null;
  return new Date(ms).toISOString();
}

export function isExpired(expires: string, now: number = Date.now()): boolean {
  return expires !== 'never' && Date.parse(expires) <= now;
}
