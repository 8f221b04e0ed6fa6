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
import type { TableDef } from '../tables.js';
import { itemLine, itemSize, maxItemBytes, storedItemSchema, type RawItem } from './stored-item.js';

/**
 * The items of a copy, one at a time, each checked as the store checks a put (./stored-item.ts); `each` is called
 * for every item in order, with its line. A copy is JSON Lines, one item per line, as written below (read a line
 * at a time: a table far larger than memory is copied and put back without ever being held whole); a copy an
 * earlier version left (one JSON array) is read whole, as that version wrote it. A BOM and CRLF line ends (an
 * editor's) are read as the text they frame. Throws, naming the file and the line, on the first line that is not
 * an item the store would take.
 */
async function readCopy(copy: string, def: TableDef, each: (item: RawItem, line: number) => Promise<void> | void): Promise<number> {
  const keys = [def.partitionKey, ...(def.sortKey ? [def.sortKey] : [])];
  const indexKeys = (def.globalIndexes ?? []).flatMap((g) => [g.partitionKey, ...(g.sortKey ? [g.sortKey] : [])]);
  const schema = storedItemSchema(keys, indexKeys);
  const refused = (line?: number, why?: string) =>
    new Error(`${copy}${line ? ` line ${line}` : ''} is not a list of stored items${why ? ` (${why})` : ''} (the table was left as it is): restore it, or move it away once the table holds what it should`);
  const checked = (value: unknown, line?: number): RawItem => {
    const item = schema.safeParse(value);
    if (!item.success) {
      const issue = item.error.issues[0];
      throw refused(line, issue ? `${issue.path.join('.') || 'item'}: ${issue.message}` : undefined);
    }
    return item.data;
  };
  const parse = (text: string, line?: number): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      throw refused(line, 'not JSON');
    }
  };
  const head = await open(copy, 'r').then(async (h) => {
    try {
      const { buffer, bytesRead } = await h.read(Buffer.alloc(64), 0, 64, 0);
      return buffer.subarray(0, bytesRead).toString('utf8').replace(/^\uFEFF/, '').trimStart();
    } finally {
      await h.close();
    }
  });
  let count = 0;
  if (head.startsWith('[')) {
    const items = parse((await readFile(copy, 'utf8')).replace(/^\uFEFF/, ''));
    if (!Array.isArray(items)) throw refused();
    for (const value of items) {
      await each(checked(value), 0);
      count++;
    }
    return count;
  }
  const lines = createInterface({ input: createReadStream(copy, 'utf8'), crlfDelay: Infinity });
  let number = 0;
  for await (const raw of lines) {
    number++;
    const line = number === 1 ? raw.replace(/^\uFEFF/, '') : raw;
    if (line.trim() === '') continue;
    await each(checked(parse(line, number), number), number);
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
      if (items.length > 0) await file.write(items.map((item) => `${itemLine(item)}\n`).join(''));
      start = page.LastEvaluatedKey;
    } while (start);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(`${copy}.tmp`, copy);
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
 * copy finds the file and finishes from it, so no item is lost; a leftover copy beside a table holding more items
 * than it (written after the copy) stops the start instead of replacing those items. Resolves to the number of items carried over, or
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
  const leftover = existsSync(copy);
  if (!leftover) {
    const { Table } = await dynamo.send(new DescribeTableCommand({ TableName: tableName }));
    if (!Table || indexesMatch(Table, def)) return undefined;
    await writeCopy(dynamo, tableName, copy);
  }
  // Every line checked before anything is dropped, as it will be put back (upgraded), its size too.
  const copied = await readCopy(copy, def, (item, line) => {
    if (itemSize(upgrade(item)) > maxItemBytes) throw new Error(`${copy}${line ? ` line ${line}` : ''}: an item over ${maxItemBytes / 1024} KB once upgraded, which the store refuses (the table was left as it is)`);
  });
  // A copy left by an interrupted rebuild is the table's whole content: nothing is served while a start rebuilds,
  // so the table then holds the copy's items (stopped before the drop) or some of them (stopped while putting
  // them back). A table holding more was written after the copy (e.g. by a version that knew nothing of it):
  // putting the copy back would drop those items, so the start stops instead.
  if (leftover) {
    const held = await countItems(dynamo, tableName);
    if (held !== undefined && held > copied) {
      throw new Error(`${copy} holds ${copied} item${copied === 1 ? '' : 's'} but ${tableName} holds ${held}: the table was written after this copy, so the copy was not put back (the table was left as it is): move the copy away, or put it back by hand`);
    }
  }
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
  // A key given twice (a hand-edited copy) is put in order, the last line winning: a batch never holds a key twice,
  // which the store refuses.
  const keyOf = (item: RawItem) => [def.partitionKey, def.sortKey].map((k) => (k ? item[k]?.S : '')).join('\u0000');
  let inBatch = new Set<string>();
  const count = await readCopy(copy, def, async (item) => {
    const key = keyOf(item);
    if (inBatch.has(key)) {
      await put();
      inBatch = new Set();
    }
    batch.push(item);
    inBatch.add(key);
    if (batch.length === 25) {
      await put();
      inBatch = new Set();
    }
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

/** How many items `tableName` holds (undefined when there is no such table): a scan that counts, a page at a time. */
async function countItems(dynamo: DynamoDBClient, tableName: string): Promise<number | undefined> {
  let count = 0;
  let start: Record<string, AttributeValue> | undefined;
  try {
    do {
      const page = await dynamo.send(new ScanCommand({ TableName: tableName, Select: 'COUNT', ExclusiveStartKey: start }));
      count += page.Count ?? 0;
      start = page.LastEvaluatedKey;
    } while (start);
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
  return count;
}

/** Items as the text of a copy (one line each, binary as base64): for tools and tests that write one by hand. */
export function copyText(items: readonly RawItem[]): string {
  return items.map((item) => `${itemLine(item)}\n`).join('');
}
