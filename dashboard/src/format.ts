/** Display formatting, in one place so the tests and the page agree. */

export function fixed(value: number | null | undefined, decimals = 2): string {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(decimals) : '–';
}

/**
 * A predicted value with about four significant digits: 87.31 (%), 3.142, 0.9341 (a purity fraction). Never
 * fewer than two decimals, so a yield reads as before.
 */
export function predicted(value: number | null | undefined): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) return '–';
  const magnitude = Math.abs(value);
  return value.toFixed(magnitude >= 10 ? 2 : magnitude >= 1 ? 3 : 4);
}

export function withUnit(text: string, unit: string | undefined): string {
  if (!unit) return text;
  return unit === '%' ? `${text} %` : `${text} ${unit}`;
}

export function clockTime(epochMs: number): string {
  return new Date(epochMs).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** 24-hour clock for chart axes, where space is short. */
export function axisTime(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t).toLocaleString(undefined, { year: 'numeric', month: 'short', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

/** `<input type=datetime-local>` value (local time) -> ISO with offset, as the audit API wants. */
export function localInputToIso(value: string): string | undefined {
  if (!value) return undefined;
  const t = new Date(value).getTime();
  return Number.isNaN(t) ? undefined : new Date(t).toISOString();
}
