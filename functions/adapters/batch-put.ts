import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { GroupCommit, type Outcome } from './group-commit.js';

/** BatchWriteItem takes at most 25 items per call, over all its tables. */
export const maxBatchItems = 25;
/** Waits before re-sending the items a BatchWriteItem left unprocessed (throttling), then those items fail. */
export const defaultRetryDelaysMs: readonly number[] = [10, 40, 160, 640];

/** Items DynamoDB still left unprocessed after every retry. */
export class UnprocessedItemError extends Error {
  constructor(what: string, attempts: number) {
    super(`${what} left unprocessed by BatchWriteItem after ${attempts} attempts`);
    this.name = 'UnprocessedItemError';
  }
}

/** How one table's items are put: what a store registers with {@link BatchWriter.table}. */
export interface TablePut {
  tableName: string;
  /** The item's primary key as one string: a batch may not hold one key of a table twice. */
  keyOf(item: Record<string, unknown>): string;
  /** How an item going alone is written (a Lambda container always writes alone, so its role needs no batch permission). */
  single(item: Record<string, unknown>): Promise<void>;
  /** The error an item still unprocessed after every retry fails with. */
  unprocessed(attempts: number): Error;
}

export interface BatchWriteOptions {
  /** Backoff before each re-send of unprocessed items. @default [10, 40, 160, 640] */
  retryDelaysMs?: readonly number[];
  sleep?: (ms: number) => Promise<void>;
}

/** One item of one table, as a group carries it. */
export interface TableItem {
  table: TablePut;
  item: Record<string, unknown>;
}

/**
 * Group commit of puts into several tables of one DynamoDB client (functions/adapters/group-commit.ts): the
 * puts submitted while a write is in flight go together in the next, whatever their table, because one
 * BatchWriteItem may carry items of several tables. A process serving many requests at once gives its audit
 * log and its served-rows log one writer (functions/services.ts), so a request's audit record and its served
 * rows, appended in the same event-loop turn, cost one call. One outcome per item: each submitter is answered
 * only when its own item is stored, and a failed call fails exactly the items it carried.
 *
 * An item alone goes through its table's `single` put. A store given no writer makes its own, so in Lambda (one
 * request per container, no writer shared) each table's item is alone and written as before: one PutItem each.
 */
export class BatchWriter {
  private readonly group: GroupCommit<TableItem, void>;

  constructor(
    readonly db: DynamoDBDocumentClient,
    options: BatchWriteOptions = {},
  ) {
    this.group = new GroupCommit((_key, items) => putGroup(items, { db, ...options }));
  }

  /** The put function of `table`'s items, group-committed with every other put of this writer. */
  table(table: TablePut): (item: Record<string, unknown>) => Promise<void> {
    return (item) => this.group.submit('put', { table, item });
  }
}

/** A store's writer: the one it was given (shared, on the same client), else its own. */
export function writerFor(db: DynamoDBDocumentClient, options: BatchWriteOptions & { writer?: BatchWriter }): BatchWriter {
  if (options.writer && options.writer.db !== db) throw new Error('a shared BatchWriter must write through the store\'s own DynamoDB client');
  return options.writer ?? new BatchWriter(db, options);
}

interface Entry extends TableItem {
  index: number;
  /** `<table>\0<key>`: unique within a chunk. */
  key: string;
}

/**
 * Writes the items of one group commit: one alone through its table's `single`, more through BatchWriteItem,
 * ≤ 25 per call (any mix of tables), chunks in parallel, a repeated key waiting for a later chunk; items left
 * unprocessed are re-sent after each of `retryDelaysMs`, then fail with their table's `unprocessed`. One
 * outcome per item, in order: a failed call fails exactly the items it carried, unless DynamoDB refused it for
 * an item's content: then each of its items is put alone, so only the refused item fails.
 */
export async function putGroup(items: readonly TableItem[], options: BatchWriteOptions & { db: DynamoDBDocumentClient }): Promise<Outcome<void>[]> {
  if (items.length === 1) {
    const { table, item } = items[0]!;
    await table.single(item);
    return [{ ok: true, value: undefined }];
  }
  const chunks: Entry[][] = [];
  for (const [index, { table, item }] of items.entries()) {
    const key = `${table.tableName}\u0000${table.keyOf(item)}`;
    let chunk = chunks.find((c) => c.length < maxBatchItems && !c.some((e) => e.key === key));
    if (!chunk) chunks.push((chunk = []));
    chunk.push({ index, table, item, key });
  }
  const retryDelaysMs = options.retryDelaysMs ?? defaultRetryDelaysMs;
  const outcomes: Outcome<void>[] = new Array(items.length);
  await Promise.all(
    chunks.map(async (chunk) => {
      try {
        const failed = await batchPut(chunk, options, retryDelaysMs);
        for (const entry of chunk) outcomes[entry.index] = failed.has(entry.key) ? { ok: false, error: entry.table.unprocessed(retryDelaysMs.length + 1) } : { ok: true, value: undefined };
      } catch (error) {
        if (!refusedItem(error)) {
          for (const entry of chunk) outcomes[entry.index] = { ok: false, error };
          return;
        }
        // DynamoDB refused the call for one item's content (a number out of its range, an item too large...): the
        // call carried other requests' items, maybe other plants' audit records, so each goes alone and only the
        // refused one fails.
        await Promise.all(
          chunk.map(async (entry) => {
            try {
              await entry.table.single(entry.item);
              outcomes[entry.index] = { ok: true, value: undefined };
            } catch (alone) {
              outcomes[entry.index] = { ok: false, error: alone };
            }
          }),
        );
      }
    }),
  );
  return outcomes;
}

/**
 * Whether a failed BatchWriteItem was refused for what an item holds (DynamoDB's ValidationException: a number
 * out of range, an item past 400 KB, an empty key...), rather than for the store's state (throttling, an
 * outage, a reset connection), which the items' own puts would meet again.
 */
function refusedItem(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'ValidationException';
}
/** One BatchWriteItem, re-sending what DynamoDB leaves unprocessed; the keys still unprocessed at the end. */
async function batchPut(chunk: readonly Entry[], options: BatchWriteOptions & { db: DynamoDBDocumentClient }, retryDelaysMs: readonly number[]): Promise<Set<string>> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const tables = new Map(chunk.map((e) => [e.table.tableName, e.table]));
  let pending: readonly Entry[] = chunk;
  for (let attempt = 0; ; attempt++) {
    const requestItems: Record<string, { PutRequest: { Item: Record<string, unknown> } }[]> = {};
    for (const { table, item } of pending) (requestItems[table.tableName] ??= []).push({ PutRequest: { Item: item } });
    const { UnprocessedItems } = await options.db.send(new BatchWriteCommand({ RequestItems: requestItems }));
    const left = new Set<string>();
    for (const [tableName, requests] of Object.entries(UnprocessedItems ?? {})) {
      const table = tables.get(tableName);
      for (const request of requests) if (table && request.PutRequest?.Item) left.add(`${tableName}\u0000${table.keyOf(request.PutRequest.Item)}`);
    }
    pending = pending.filter((e) => left.has(e.key));
    if (pending.length === 0) return new Set();
    const delay = retryDelaysMs[attempt];
    if (delay === undefined) return new Set(pending.map((e) => e.key));
    await sleep(delay);
  }
}
