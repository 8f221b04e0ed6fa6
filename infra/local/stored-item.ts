import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { z } from 'zod';

/**
 * A stored DynamoDB item as a line of text and back, for the local rebuild's copy (./rebuild-table.ts): the
 * DynamoDB JSON the AWS CLI prints (binary as base64), checked as strictly as the store checks a put, so a copy
 * the store would refuse is refused before the table it came from is dropped, not after.
 */

export type RawItem = Record<string, AttributeValue>;

/** DynamoDB's item size limit (dynalite's default too). */
export const maxItemBytes = 400 * 1024;

const numberText = z.string().regex(/^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/, 'a number');
const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'base64');
const bytes = base64.transform((text) => new Uint8Array(Buffer.from(text, 'base64')));
const distinct = <T>(values: T[], as: (value: T) => string) => new Set(values.map(as)).size === values.length;
const setOf = <T extends z.ZodType<unknown, string>>(member: T, raw: z.ZodType<string>) =>
  z
    .array(raw)
    .min(1, 'a set is never empty')
    .refine((values) => distinct(values, (v) => v), 'a set holds each value once')
    .pipe(z.array(member));

/** One attribute value: exactly one of DynamoDB's types, its value as the store takes it. */
export const attributeValueSchema: z.ZodType<AttributeValue> = z.lazy(() =>
  z.union([
    z.strictObject({ S: z.string() }),
    z.strictObject({ N: numberText }),
    z.strictObject({ B: bytes }),
    z.strictObject({ BOOL: z.boolean() }),
    z.strictObject({ NULL: z.literal(true) }),
    z.strictObject({ SS: setOf(z.string(), z.string()) }),
    z.strictObject({ NS: setOf(numberText, numberText) }),
    z.strictObject({ BS: setOf(bytes, base64) }),
    z.strictObject({ L: z.array(attributeValueSchema) }),
    z.strictObject({ M: z.record(z.string(), attributeValueSchema) }),
  ]),
) as z.ZodType<AttributeValue>;

/** A stored item whose key attributes (the table's and its indexes') are the non-empty strings the tables declare. */
export function storedItemSchema(keyAttributes: readonly string[], indexAttributes: readonly string[]) {
  const key = z.strictObject({ S: z.string().min(1) });
  return z.record(z.string(), attributeValueSchema).superRefine((item, ctx) => {
    for (const name of keyAttributes) if (!key.safeParse(item[name]).success) ctx.addIssue({ code: 'custom', message: `key ${name} must be a non-empty string (S)`, path: [name] });
    for (const name of indexAttributes) if (item[name] !== undefined && !key.safeParse(item[name]).success) ctx.addIssue({ code: 'custom', message: `index key ${name} must be a non-empty string (S)`, path: [name] });
  });
}

/** An item as one line of the copy: binary values as base64, as DynamoDB JSON writes them. */
export function itemLine(item: RawItem): string {
  return JSON.stringify(item, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('base64') : value));
}

/** The item's size as the store counts it (dynalite's rule: names and strings by length, numbers by digits). */
export function itemSize(item: RawItem): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) size += name.length + valueSize(value);
  return size;
}

function numberSize(text: string): number {
  const digits = text.replace(/^-/, '').replace(/[eE].*$/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return digits.length === 0 ? 1 : 2 + Math.ceil(digits.length / 2) + (text.startsWith('-') ? 1 : 0);
}

function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return value.S.length;
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return value.B.length;
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + s.length, 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, b) => sum + b.length, 0);
  if (value.L !== undefined) return 3 + value.L.reduce((sum, v) => sum + 1 + valueSize(v), 0);
  if (value.M !== undefined) return 3 + Object.keys(value.M).length + itemSize(value.M);
  return 1; // BOOL, NULL
}
