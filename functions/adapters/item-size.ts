/**
 * DynamoDB's size of an item as the document client marshals it (native values: strings, numbers, booleans,
 * null, Uint8Array for binary, arrays as lists, plain objects as maps, Sets), the size its write units and the
 * 400 KB item limit are counted on. AWS documents it as: attribute names plus values, a string its UTF-8
 * bytes, a binary its bytes, a number ~1 byte per two significant digits plus 1, a list or map 3 bytes plus
 * 1 per element plus the elements (and a map's names). For numbers this follows dynalite's formula, which was
 * fitted to DynamoDB's consumed capacity (`node_modules/dynalite/db/index.js` `valSize`), with names and
 * strings counted in UTF-8 bytes (dynalite counts UTF-16 units: never more). test/unit/served-rows-item.test.ts
 * checks it against dynalite's own count.
 */
export function itemBytes(item: Record<string, unknown>): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(item)) if (value !== undefined) bytes += Buffer.byteLength(name) + valueBytes(value);
  return bytes;
}

/** The size of one attribute value (without its name). */
export function valueBytes(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (typeof value === 'number') return numberBytes(value);
  if (typeof value === 'boolean' || value === null) return 1;
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) return 3 + value.reduce((n: number, v) => n + 1 + valueBytes(v), 0);
  if (value instanceof Set) return [...(value as Set<unknown>)].reduce((n: number, v) => n + valueBytes(v), 0);
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    return 3 + entries.length + entries.reduce((n, [name, v]) => n + Buffer.byteLength(name) + valueBytes(v), 0);
  }
  return 0;
}

/**
 * A number as DynamoDB holds it (the SDK sends `String(n)`): 1 byte, a byte per two significant digits
 * (leading and trailing zeros trimmed), one more when both the digit count and the decimal exponent are even,
 * one more when negative; zero is 1 byte.
 */
function numberBytes(n: number): number {
  if (n === 0) return 1;
  const [mantissa = '', exponent = '0'] = Math.abs(n).toString().split('e');
  const [whole = '', fraction = ''] = mantissa.split('.');
  const all = `${whole}${fraction}`;
  const lead = all.length - all.replace(/^0+/, '').length;
  const digits = all.replace(/^0+/, '').replace(/0+$/, '').length;
  // The decimal exponent of the first significant digit (big.js's `e`).
  const e = whole.length - 1 - lead + Number(exponent);
  return 1 + Math.ceil(digits / 2) + (digits % 2 || e % 2 ? 0 : 1) + (n < 0 ? 1 : 0);
}
