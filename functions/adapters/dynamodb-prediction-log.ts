import { ConditionalCheckFailedException, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PredictionKey, PredictionLog, ServedPair, StoredPrediction } from '../core/quality/ports.js';
import { UnprocessedItemError, writerFor, type BatchWriteOptions, type BatchWriter } from './batch-put.js';
import { CorruptServedRowsError, fromItem, plantKey, platformKey, servedValueAttributes, toItem, type RequestItem } from './served-rows-item.js';

/** The by-model index (infra/tables.ts): partition `model`, sort `psk` = `<plant>#<time>#<request id>`. */
export const predictionIndex = 'byModelPlantTime';

/**
 * Predictions table: one item per served request (`id` = the request id), its rows inside, expiring by TTL.
 * One item, not one per row: a batch of 100 rows is one write of its size (~ 1 WRU per KB) instead of 100 item
 * writes and 100 index writes. The `byModelPlantTime` index (partition `model`, sort `<plant>#<time>#<id>`)
 * projects keys, `plant` and `version` only (1 WRU per request whatever its size). The plant leads the sort key,
 * so a plant's by-time read is one contiguous range holding its entries only: another plant's traffic on a shared
 * model is never read, paid for or waited on (docs/models.md, "Tenancy of the served rows"). The schedule and a
 * platform principal find the plants of a model by skipping from range to range (one one-entry Query per plant).
 * Measured values live in the item's `obs` map, set once each with a conditional update.
 *
 * Writes are group-committed like the audit log's (functions/adapters/batch-put.ts): a request alone (always,
 * in Lambda) is one PutItem; in a process serving many at once, the requests finishing during a write go
 * together in the next BatchWriteItem, with the audit records of the same turn when the writer is shared. Each request is answered only after its own item is stored, or its write failed
 * (bookkeeping: the quality service counts the failure, the prediction still answers).
 */
export class DynamoDbPredictionLog implements PredictionLog {
  private readonly putItem: (item: Record<string, unknown>) => Promise<void>;
  private readonly onCorruptItem: (error: CorruptServedRowsError) => void;

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    /**
     * `writer`: one shared with other stores of the same client (long-lived processes); default: its own.
     * `onCorruptItem`: told of each stored item whose bytes do not hold what it claims (its rows are left out
     * of the answer, as if it were not there); default: nothing.
     */
    options: BatchWriteOptions & { writer?: BatchWriter; onCorruptItem?: (error: CorruptServedRowsError) => void } = {},
  ) {
    this.onCorruptItem = options.onCorruptItem ?? (() => {});
    this.putItem = writerFor(db, options).table({
      tableName,
      keyOf: (item) => String(item.id),
      single: async (item) => void (await this.db.send(new PutCommand({ TableName: this.tableName, Item: item }))),
      unprocessed: (attempts) => new UnprocessedItemError('served rows', attempts),
    });
  }

  async record(rows: readonly StoredPrediction[]): Promise<void> {
    const byRequest = new Map<string, StoredPrediction[]>();
    for (const row of rows) byRequest.set(row.requestId, [...(byRequest.get(row.requestId) ?? []), row]);
    await Promise.all([...byRequest.values()].map((requestRows) => this.putItem(toItem(requestRows) as unknown as Record<string, unknown>)));
  }

  async get(keys: readonly PredictionKey[]): Promise<StoredPrediction[]> {
    const items = await this.fetch([...new Set(keys.map((k) => k.requestId))], false);
    const wanted = new Set(keys.map((k) => `${k.requestId}#${k.row}`));
    return items.flatMap((item) => this.rowsOf(item, false)).filter((p) => wanted.has(`${p.requestId}#${p.row}`));
  }

  async byTime(model: string, from: string, to: string, limit: number, plant?: string | null): Promise<StoredPrediction[]> {
    // One plant (or the platform's own rows): one range of the index, its entries only, another plant's never
    // read. Every plant (a platform principal's view): each plant's range, merged newest first.
    const entries = plant === undefined ? mergeNewest(await this.plantsOf(model), (p) => this.rangeEntries(model, p, from, to)) : this.rangeEntries(model, plantKey(plant), from, to);
    const rows: StoredPrediction[] = [];
    const want = plant === undefined ? undefined : plant;
    let ids: string[] = [];
    const take = async () => {
      // Newest request first, each request's rows in order; the whole answer is reversed to oldest first.
      const byId = new Map((await this.fetch(ids)).map((item) => [item.id, item]));
      for (const id of ids) {
        const item = byId.get(id);
        // The item's own plant decides too: an index entry is never trusted over the item it points to.
        if (item && (want === undefined || (item.plant ?? null) === want)) rows.push(...this.rowsOf(item, true).reverse());
      }
      ids = [];
    };
    for await (const entry of entries) {
      ids.push(String(entry.id));
      if (ids.length === 100) await take();
      if (rows.length >= limit) break;
    }
    if (ids.length > 0 && rows.length < limit) await take();
    return rows.slice(0, limit).reverse();
  }

  /**
   * The index entries of one plant's range of `model` in [from, to], newest first, a page (100) at a time:
   * `psk BETWEEN '<plant>#<from>' AND '<plant>#<to>~'` touches that plant's entries and nothing else.
   */
  private async *rangeEntries(model: string, key: string, from: string, to: string, projection?: string[]): AsyncGenerator<Record<string, unknown>> {
    let start: Record<string, unknown> | undefined;
    const names = Object.fromEntries((projection ?? []).map((n, k) => [`#a${k}`, n]));
    do {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: predictionIndex,
          KeyConditionExpression: '#m = :m AND #s BETWEEN :from AND :to',
          ExpressionAttributeNames: { '#m': 'model', '#s': 'psk', ...names },
          ExpressionAttributeValues: { ':m': model, ':from': `${key}#${from}`, ':to': `${key}#${to}~` },
          ...(projection ? { ProjectionExpression: Object.keys(names).join(', ') } : {}),
          ScanIndexForward: false,
          Limit: 100,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      yield* out.Items ?? [];
      start = out.LastEvaluatedKey;
    } while (start);
  }

  /**
   * The plant keys with entries of `model` in the index (any time within retention), by skipping from one plant's
   * range to the next: one Query of one entry per plant (plus one that finds none), however much each served.
   */
  private async plantsOf(model: string): Promise<string[]> {
    const plants: string[] = [];
    let after: string | undefined;
    for (;;) {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: predictionIndex,
          // The first hop has no bound (DynamoDB refuses an empty string in a key condition).
          KeyConditionExpression: after === undefined ? '#m = :m' : '#m = :m AND #s > :after',
          ExpressionAttributeNames: { '#m': 'model', '#s': 'psk' },
          ExpressionAttributeValues: { ':m': model, ...(after === undefined ? {} : { ':after': after }) },
          ProjectionExpression: '#s',
          Limit: 1,
        }),
      );
      const psk = out.Items?.[0]?.psk;
      if (typeof psk !== 'string') return plants;
      const key = psk.slice(0, psk.indexOf('#'));
      plants.push(key);
      // '~' sorts after every character of a time stamp, so `<plant>#~` is past the plant's last entry and
      // before the next plant's first ('#' sorts before every character a plant name may hold).
      after = `${key}#~`;
    }
  }

  async servedPairs(model: string, from: string, to: string): Promise<ServedPair[]> {
    const pairs = new Map<string, ServedPair>();
    // Each plant's range of [from, to] only: what the schedule needs (every version served there), nothing older.
    for (const key of await this.plantsOf(model)) {
      for await (const item of this.rangeEntries(model, key, from, to, ['psk', 'version'])) {
        if (typeof item.version !== 'string') continue;
        const plant = key === platformKey ? undefined : key;
        const time = String(item.psk).slice(key.length + 1).split('#')[0]!;
        const seen = pairs.get(`${item.version}|${key}`);
        if (!seen || seen.last < time) pairs.set(`${item.version}|${key}`, { version: item.version, ...(plant ? { plant } : {}), last: time });
      }
    }
    return [...pairs.values()];
  }

  async observe(requestId: string, values: readonly { row: number; actual: number }[], at: string): Promise<('stored' | 'duplicate')[]> {
    const statuses: ('stored' | 'duplicate')[] = [];
    // A request has at most 100 rows; 50 per update keeps each expression far below DynamoDB's 4 KB.
    for (let i = 0; i < values.length; i += 50) {
      const chunk = values.slice(i, i + 50);
      if (await this.setObservations(requestId, chunk, at)) statuses.push(...chunk.map(() => 'stored' as const));
      // Some row of the chunk has a value already (another call got there first): row by row, to say which.
      else for (const value of chunk) statuses.push((await this.setObservations(requestId, [value], at)) ? 'stored' : 'duplicate');
    }
    return statuses;
  }

  /** Sets every value, or none when the request is absent or any of the rows has one already. */
  private async setObservations(requestId: string, values: readonly { row: number; actual: number }[], at: string): Promise<boolean> {
    if (values.length === 0) return true;
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { id: requestId },
          UpdateExpression: `SET ${values.map((_, k) => `obs.#r${k} = :o${k}`).join(', ')}`,
          ConditionExpression: ['attribute_exists(id)', ...values.map((_, k) => `attribute_not_exists(obs.#r${k})`)].join(' AND '),
          ExpressionAttributeNames: Object.fromEntries(values.map((v, k) => [`#r${k}`, String(v.row)])),
          ExpressionAttributeValues: Object.fromEntries(values.map((v, k) => [`:o${k}`, { a: v.actual, t: at }])),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  /** The rows of a stored item; none, and `onCorruptItem` told, when it is corrupt. */
  private rowsOf(item: RequestItem, withInputs: boolean): ReturnType<typeof fromItem> {
    try {
      return fromItem(item, withInputs);
    } catch (error) {
      if (!(error instanceof CorruptServedRowsError)) throw error;
      this.onCorruptItem(error);
      return [];
    }
  }

  /**
   * The request items of `ids` (missing ones left out), 100 keys per BatchGetItem, unprocessed keys re-asked;
   * without `xs` and `xm` (the inputs) unless `withInputs`.
   */
  private async fetch(ids: readonly string[], withInputs = true): Promise<RequestItem[]> {
    const found: RequestItem[] = [];
    const names = servedValueAttributes;
    const projection = withInputs ? {} : { ProjectionExpression: names.map((_, k) => `#a${k}`).join(', '), ExpressionAttributeNames: Object.fromEntries(names.map((n, k) => [`#a${k}`, n])) };
    for (let i = 0; i < ids.length; i += 100) {
      let pending: Record<string, unknown>[] = ids.slice(i, i + 100).map((id) => ({ id }));
      for (let attempt = 0; attempt < 5 && pending.length > 0; attempt++) {
        const out = await this.db.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending, ...projection } } }));
        found.push(...((out.Responses?.[this.tableName] ?? []) as RequestItem[]));
        pending = (out.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Record<string, unknown>[];
      }
    }
    return found;
  }
}

/**
 * The entries of several plants' ranges as one stream, newest first (a k-way merge on `<time>#<id>`): each
 * range is read a page at a time, only as far as the merged stream is consumed.
 */
async function* mergeNewest(keys: readonly string[], entriesOf: (key: string) => AsyncGenerator<Record<string, unknown>>): AsyncGenerator<Record<string, unknown>> {
  const order = (entry: Record<string, unknown>) => {
    const psk = String(entry.psk);
    return psk.slice(psk.indexOf('#') + 1);
  };
  const heads = await Promise.all(keys.map(async (key) => ({ source: entriesOf(key), head: undefined as IteratorResult<Record<string, unknown>> | undefined })));
  for (const h of heads) h.head = await h.source.next();
  for (;;) {
    let best: (typeof heads)[number] | undefined;
    for (const h of heads) if (!h.head!.done && (!best || order(h.head!.value) > order(best.head!.value))) best = h;
    if (!best) return;
    yield best.head!.value as Record<string, unknown>;
    best.head = await best.source.next();
  }
}

/**
 * Gives every item stored before the index was keyed by plant its `psk` (and drops `tsk`), so the index holds
 * it again: one Scan of the table (pages of `pageSize`) and one conditional UpdateItem per such item (an item
 * that has its key already, or is gone, is left alone). Idempotent; for a deployed table after the transition
 * deploy (docs/models.md, "Tenancy of the served rows"), through infra/tools/backfill-predictions-index.ts.
 */
export async function backfillPlantSortKeys(db: DynamoDBDocumentClient, tableName: string, pageSize = 500): Promise<{ scanned: number; updated: number }> {
  let scanned = 0;
  let updated = 0;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await db.send(
      new ScanCommand({
        TableName: tableName,
        ProjectionExpression: 'id, #t, #m, #p, psk',
        FilterExpression: 'attribute_not_exists(psk)',
        ExpressionAttributeNames: { '#t': 'time', '#m': 'model', '#p': 'plant' },
        Limit: pageSize,
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    scanned += page.ScannedCount ?? 0;
    for (const item of page.Items ?? []) {
      if (typeof item.id !== 'string' || typeof item.time !== 'string' || typeof item.model !== 'string') continue;
      try {
        await db.send(
          new UpdateCommand({
            TableName: tableName,
            Key: { id: item.id },
            UpdateExpression: 'SET psk = :k REMOVE tsk',
            ConditionExpression: 'attribute_exists(id) AND attribute_not_exists(psk)',
            ExpressionAttributeValues: { ':k': `${plantKey(typeof item.plant === 'string' ? item.plant : null)}#${item.time}#${item.id}` },
          }),
        );
        updated++;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
    }
    start = page.LastEvaluatedKey;
  } while (start);
  return { scanned, updated };
}

/**
 * An item stored before the index was keyed by plant (it carried `tsk` = `<time>#<id>`), as it is stored now:
 * with `psk`, so it is in the index again. For rebuilding a table (infra/local/rebuild-table.ts) and the
 * backfill of a deployed one (docs/models.md, "Tenancy of the served rows"); other items are returned as they are.
 */
export function withPlantSortKey(item: Record<string, AttributeValue>): Record<string, AttributeValue> {
  if (item.psk || !item.id?.S || !item.time?.S || !item.model?.S) return item;
  const { tsk: _old, ...rest } = item;
  return { ...rest, psk: { S: `${plantKey(item.plant?.S ?? null)}#${item.time.S}#${item.id.S}` } };
}
