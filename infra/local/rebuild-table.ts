import { existsSync } from 'node:fs';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  ResourceNotFoundException,
  ScanCommand,
  type AttributeValue,
  type DynamoDBClient,
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import type { TableDef } from '../tables.js';

type RawItem = Record<string, AttributeValue>;

/**
 * A copy as written below: a list of items, each naming attributes by DynamoDB types ({"S": ...}), binary values
 * (`B`, `BS`) as base64 strings as on DynamoDB's wire (the Predictions table's served rows are binary).
 */
const copySchema = z.array(z.record(z.string(), z.record(z.string(), z.unknown()).refine((v) => Object.keys(v).length === 1, 'one DynamoDB type per attribute')));

/**
 * The items of a copy, or an error naming the file before anything is dropped: a copy that is not what this
 * module wrote (a hand edit, another tool, a half-written file moved in place) must never cost the live table.
 */
async function readCopy(copy: string, def: TableDef): Promise<RawItem[]> {
  const text = await readFile(copy, 'utf8');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const items = copySchema.safeParse(parsed);
  const keys = [def.partitionKey, ...(def.sortKey ? [def.sortKey] : [])];
  if (!items.success || !items.data.every((item) => keys.every((k) => item[k] !== undefined))) {
    throw new Error(`${copy} is not a list of stored items (the table was left as it is): restore it, or move it away once the table holds what it should`);
  }
  return items.data.map((item) => Object.fromEntries(Object.entries(item).map(([name, value]) => [name, fromCopy(value as unknown as AttributeValue)])));
}

/** The text of a copy of `items`: JSON, binary values base64 ({@link readCopy} turns them back into bytes). */
export function copyText(items: readonly RawItem[]): string {
  return JSON.stringify(items.map((item) => Object.fromEntries(Object.entries(item).map(([name, value]) => [name, toCopy(value)]))));
}

function toCopy(value: AttributeValue): unknown {
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.BS !== undefined) return { BS: value.BS.map((b) => Buffer.from(b).toString('base64')) };
  if (value.L !== undefined) return { L: value.L.map(toCopy) };
  if (value.M !== undefined) return { M: Object.fromEntries(Object.entries(value.M).map(([k, v]) => [k, toCopy(v)])) };
  return value;
}

function fromCopy(value: AttributeValue): AttributeValue {
  const bytes = (b: unknown) => (typeof b === 'string' ? new Uint8Array(Buffer.from(b, 'base64')) : (b as Uint8Array));
  if (value.B !== undefined) return { B: bytes(value.B) };
  if (value.BS !== undefined) return { BS: value.BS.map(bytes) };
  if (Array.isArray(value.L)) return { L: value.L.map(fromCopy) };
  if (value.M !== undefined && typeof value.M === 'object') return { M: Object.fromEntries(Object.entries(value.M).map(([k, v]) => [k, fromCopy(v)])) };
  return value;
}

/** Whether a table's indexes are those `def` declares (names and key attributes). */
export function indexesMatch(table: TableDescription, def: TableDef): boolean {
  const keysOf = (schema: { AttributeName?: string }[] | undefined) => (schema ?? []).map((k) => k.AttributeName).join('|');
  const have = (table.GlobalSecondaryIndexes ?? []).map((g) => `${g.IndexName}:${keysOf(g.KeySchema)}`).sort();
  const want = (def.globalIndexes ?? []).map((g) => `${g.name}:${[g.partitionKey, g.sortKey].filter(Boolean).join('|')}`).sort();
  return have.join(',') === want.join(',');
}

/**
 * Rebuilds a table of an older data dir whose indexes differ from infra/tables.ts (the local twin's dynalite
 * cannot add or drop an index in place). The items are first copied to `<dataDir>/rebuilding-<table>.json`
 * (written whole, then renamed), the table is dropped and created as declared, every item is put back through
 * `upgrade` (e.g. the Predictions item's new index key), and the file is removed. A start interrupted after the
 * copy finds the file and finishes from it, so no item is lost. Resolves to the number of items carried over, or
 * undefined when the table needed nothing.
 */
export async function rebuildIfIndexesChanged(
  dynamo: DynamoDBClient,
  def: TableDef,
  tableName: string,
  create: () => Promise<void>,
  dataDir: string,
  upgrade: (item: RawItem) => RawItem = (item) => item,
): Promise<number | undefined> {
  const copy = join(dataDir, `rebuilding-${tableName}.json`);
  let items: RawItem[];
  if (existsSync(copy)) {
    items = await readCopy(copy, def);
  } else {
    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: tableName }));
    if (!Table || indexesMatch(Table, def)) return undefined;
    items = [];
    let start: RawItem | undefined;
    do {
      const page = await dynamo.send(new ScanCommand({ TableName: tableName, ...(start ? { ExclusiveStartKey: start } : {}) }));
      items.push(...(page.Items ?? []));
      start = page.LastEvaluatedKey;
    } while (start);
    await writeFile(`${copy}.tmp`, copyText(items), { mode: 0o600 });
    await rename(`${copy}.tmp`, copy);
  }
  try {
    await dynamo.send(new DeleteTableCommand({ TableName: tableName }));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  await waitFor(dynamo, tableName, 'gone');
  await create();
  await waitFor(dynamo, tableName, 'ACTIVE');
  for (let i = 0; i < items.length; i += 25) {
    let pending = items.slice(i, i + 25).map((item) => ({ PutRequest: { Item: upgrade(item) } }));
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt === 10) throw new Error(`rebuilding ${tableName}: the store kept refusing items`);
      const out = await dynamo.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: pending } }));
      pending = (out.UnprocessedItems?.[tableName] ?? []) as typeof pending;
    }
  }
  await rm(copy, { force: true });
  return items.length;
}

/** Waits (up to ~10 s) until the table is gone or ACTIVE: dynalite deletes and creates a table asynchronously. */
async function waitFor(dynamo: DynamoDBClient, tableName: string, state: 'gone' | 'ACTIVE'): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const status = await dynamo.send(new DescribeTableCommand({ TableName: tableName })).then(
      ({ Table }) => Table?.TableStatus,
      (error: unknown) => (error instanceof ResourceNotFoundException ? 'gone' : Promise.reject(error)),
    );
    if (status === state) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`rebuilding ${tableName}: the table never became ${state}`);
}
