import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Outcome } from './group-commit.js';

/** BatchWriteItem takes at most 25 items per call. */
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

export interface GroupPutOptions {
  db: DynamoDBDocumentClient;
  tableName: string;
  /** The item's primary key as one string: a batch may not hold one key twice. */
  keyOf(item: Record<string, unknown>): string;
  /** How a group of one is written (a Lambda container always writes alone, so its role needs no batch permission). */
  single(item: Record<string, unknown>): Promise<void>;
  /** The error an item still unprocessed after every retry fails with. */
  unprocessed(attempts: number): Error;
  retryDelaysMs?: readonly number[];
  sleep?: (ms: number) => Promise<void>;
}

/**
 * Writes the items of one group commit (functions/adapters/group-commit.ts): one alone through `single`, more
 * through BatchWriteItem, ≤ 25 per call, chunks in parallel, a repeated key waiting for a later chunk; items
 * left unprocessed are re-sent after each of `retryDelaysMs`, then fail with `unprocessed`. One outcome per
 * item, in order: a failed call fails exactly the items it carried.
 */
export async function putGroup(items: readonly Record<string, unknown>[], options: GroupPutOptions): Promise<Outcome<void>[]> {
  if (items.length === 1) {
    await options.single(items[0]!);
    return [{ ok: true, value: undefined }];
  }
  const chunks: { index: number; item: Record<string, unknown>; key: string }[][] = [];
  for (const [index, item] of items.entries()) {
    const key = options.keyOf(item);
    let chunk = chunks.find((c) => c.length < maxBatchItems && !c.some((e) => e.key === key));
    if (!chunk) chunks.push((chunk = []));
    chunk.push({ index, item, key });
  }
  const retryDelaysMs = options.retryDelaysMs ?? defaultRetryDelaysMs;
  const outcomes: Outcome<void>[] = new Array(items.length);
  await Promise.all(
    chunks.map(async (chunk) => {
      try {
        const failed = await batchPut(chunk, options, retryDelaysMs);
        for (const entry of chunk) outcomes[entry.index] = failed.has(entry.key) ? { ok: false, error: options.unprocessed(retryDelaysMs.length + 1) } : { ok: true, value: undefined };
      } catch (error) {
        for (const entry of chunk) outcomes[entry.index] = { ok: false, error };
      }
    }),
  );
  return outcomes;
}

/** One BatchWriteItem, re-sending what DynamoDB leaves unprocessed; the keys still unprocessed at the end. */
async function batchPut(chunk: { item: Record<string, unknown> }[], options: GroupPutOptions, retryDelaysMs: readonly number[]): Promise<Set<string>> {
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let pending = chunk.map((e) => e.item);
  for (let attempt = 0; ; attempt++) {
    const { UnprocessedItems } = await options.db.send(
      new BatchWriteCommand({ RequestItems: { [options.tableName]: pending.map((Item) => ({ PutRequest: { Item } })) } }),
    );
    pending = (UnprocessedItems?.[options.tableName] ?? []).flatMap((r) => (r.PutRequest?.Item ? [r.PutRequest.Item] : []));
    if (pending.length === 0) return new Set();
    const delay = retryDelaysMs[attempt];
    if (delay === undefined) return new Set(pending.map(options.keyOf));
    await sleep(delay);
  }
}
