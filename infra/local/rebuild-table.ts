import { createReadStream, existsSync } from 'node:fs';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
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
 * One stored item, naming attributes by DynamoDB types ({"S": ...}); in a copy binary values (`B`, `BS`) are
 * base64 strings, as on DynamoDB's wire (the Predictions table's served rows are binary).
 */
const itemSchema = z.record(z.string(), z.record(z.string(), z.unknown()).refine((v) => Object.keys(v).length === 1, 'one DynamoDB type per attribute'));

/**
 * The items of a copy, one at a time, each checked; `each` is called for every item in order. A copy is JSON
 * Lines, one item per line, as written below (read a line at a time: a table far larger than memory is copied
 * and put back without ever being held whole); a copy an earlier version left (one JSON array) is read whole,
 * as that version wrote it. Throws, naming the file, on the first line that is not an item.
 */
async function readCopy(copy: string, def: TableDef, each: (item: RawItem) => Promise<void> | void): Promise<number> {
  const keys = [def.partitionKey, ...(def.sortKey ? [def.sortKey] : [])];
  const refused = () => new Error(`${copy} is not a list of stored items (the table was left as it is): restore it, or move it away once the table holds what it should`);
  const checked = (value: unknown): RawItem => {
    const item = itemSchema.safeParse(value);
    if (!item.success || !keys.every((k) => item.data[k] !== undefined)) throw refused();
    return Object.fromEntries(Object.entries(item.data).map(([name, v]) => [name, fromCopy(v as unknown as AttributeValue)]));
  };
  const parse = (text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      throw refused();
    }
  };
  const head = await open(copy, 'r').then(async (h) => {
    try {
      const { buffer, bytesRead } = await h.read(Buffer.alloc(64), 0, 64, 0);
      return buffer.subarray(0, bytesRead).toString('utf8').trimStart();
    } finally {
      await h.close();
    }
  });
  let count = 0;
  if (head.startsWith('[')) {
    const items = parse(await readFile(copy, 'utf8'));
    if (!Array.isArray(items)) throw refused();
    for (const value of items) {
      await each(checked(value));
      count++;
    }
    return count;
  }
  const lines = createInterface({ input: createReadStream(copy, 'utf8'), crlfDelay: Infinity });
  for await (const line of lines) {
    if (line.trim() === '') continue;
    await each(checked(parse(line)));
    count++;
  }
  if (count === 0 && head !== '') throw refused();
  return count;
}

/** Writes the table's items to `copy` as JSON Lines, a scan page at a time, made durable, then renamed in place. */
async function writeCopy(dynamo: DynamoDBClient, tableName: string, copy: string): Promise<void> {
  const file = await open(`${copy}.tmp`, 'w', 0o600);
  try {
    let start: RawItem | undefined;
    do {
      const page = await dynamo.send(new ScanCommand({ TableName: tableName, ...(start ? { ExclusiveStartKey: start } : {}) }));
      const items = page.Items ?? [];
      if (items.length > 0) await file.write(copyText(items));
      start = page.LastEvaluatedKey;
    } while (start);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(`${copy}.tmp`, copy);
}

/** Items as lines of a copy: JSON Lines, binary values base64 ({@link readCopy} turns them back into bytes). */
export function copyText(items: readonly RawItem[]): string {
  return items.map((item) => `${JSON.stringify(Object.fromEntries(Object.entries(item).map(([name, value]) => [name, toCopy(value)])))}\n`).join('');
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
  if (value.BS !== undefined && Array.isArray(value.BS)) return { BS: value.BS.map(bytes) };
  if (Array.isArray(value.L)) return { L: value.L.map(fromCopy) };
  if (value.M !== undefined && typeof value.M === 'object' && value.M !== null) return { M: Object.fromEntries(Object.entries(value.M).map(([k, v]) => [k, fromCopy(v)])) };
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
 * (JSON Lines, a scan page at a time, synced, then renamed; every line is checked before the drop), the table
 * is dropped and created as declared, every item is put back through `upgrade` (e.g. the Predictions item's new
 * index key), 25 at a time, and the file is removed. A start interrupted after the
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
  if (!existsSync(copy)) {
    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: tableName }));
    if (!Table || indexesMatch(Table, def)) return undefined;
    await writeCopy(dynamo, tableName, copy);
  }
  // Every line checked before anything is dropped.
  await readCopy(copy, def, () => undefined);
  try {
    await dynamo.send(new DeleteTableCommand({ TableName: tableName }));
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  await waitFor(dynamo, tableName, 'gone');
  await create();
  await waitFor(dynamo, tableName, 'ACTIVE');
  let batch: RawItem[] = [];
  const put = async () => {
    let pending = batch.map((item) => ({ PutRequest: { Item: upgrade(item) } }));
    batch = [];
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt === 10) throw new Error(`rebuilding ${tableName}: the store kept refusing items`);
      const out = await dynamo.send(new BatchWriteItemCommand({ RequestItems: { [tableName]: pending } }));
      pending = (out.UnprocessedItems?.[tableName] ?? []) as typeof pending;
    }
  };
  const count = await readCopy(copy, def, async (item) => {
    batch.push(item);
    if (batch.length === 25) await put();
  });
  if (batch.length > 0) await put();
  await rm(copy, { force: true });
  return count;
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
