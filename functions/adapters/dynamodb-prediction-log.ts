import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, PutCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { PredictionKey, PredictionLog, ServedPair, StoredPrediction } from '../core/quality/ports.js';
import { putGroup, UnprocessedItemError } from './batch-put.js';
import { GroupCommit } from './group-commit.js';

/** A served request as stored: the fields its rows share once, each row's inputs in `f`'s order. */
interface RequestItem {
  id: string;
  model: string;
  version: string;
  plant?: string;
  principal: string;
  time: string;
  level: number | null;
  ttl: number;
  /** `<time>#<request id>`: the sort key of the `byModelTime` index. */
  tsk: string;
  /** Feature names, in the order of every row of `xs`. */
  f: string[];
  /** Rows: r = row index, p = prediction, i = interval (or null); m = inputs of a row whose features differ from `f` (x: inputs, as first stored). */
  rows: { r: number; x?: number[]; m?: Record<string, number>; p: number; i: [number, number] | null }[];
  /**
   * Each row's input values in `f`'s order ([] for a row with `m`), apart from `rows`: a feedback join reads the
   * served values without them (a batch of 100 rows of 256 features holds ~300 KB of inputs, its `rows` ~3 KB).
   */
  xs?: number[][];
  /** Measured values by row index, each set once by feedback: a = actual, t = when. */
  obs: Record<string, { a: number; t: string }>;
}

/** DynamoDB's item limit is 400 KB; a batch of 100 rows of 256 features stays near 300 KB (docs/quality.md). */
const maxItemBytes = 390 * 1024;

/**
 * Predictions table: one item per served request (`id` = the request id), its rows inside, expiring by TTL.
 * One item, not one per row: a batch of 100 rows is one write of its size (~ 1 WRU per KB) instead of 100 item
 * writes and 100 index writes. The `byModelTime` index (model, tsk) projects keys, `plant` and `version` only
 * (1 WRU per request whatever its size), so by-time reads of one plant filter there and fetch the items
 * themselves, and the schedule finds who was served from the index alone. Measured values live in the item's `obs`
 * map, set once each with a conditional update.
 *
 * Writes are group-committed like the audit log's: a request alone (always, in Lambda) is one PutItem; in a
 * process serving many at once, the requests finishing during a write go together in the next
 * BatchWriteItem. Each request is answered only after its own item is stored, or its write failed
 * (bookkeeping: the quality service counts the failure, the prediction still answers).
 */
export class DynamoDbPredictionLog implements PredictionLog {
  private readonly group = new GroupCommit<RequestItem, void>((_key, items) =>
    putGroup(items as unknown as Record<string, unknown>[], {
      db: this.db,
      tableName: this.tableName,
      keyOf: (item) => String(item.id),
      single: async (item) => void (await this.db.send(new PutCommand({ TableName: this.tableName, Item: item }))),
      unprocessed: (attempts) => new UnprocessedItemError('served rows', attempts),
      ...this.options,
    }),
  );

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly options: { retryDelaysMs?: readonly number[]; sleep?: (ms: number) => Promise<void> } = {},
  ) {}

  async record(rows: readonly StoredPrediction[]): Promise<void> {
    const byRequest = new Map<string, StoredPrediction[]>();
    for (const row of rows) byRequest.set(row.requestId, [...(byRequest.get(row.requestId) ?? []), row]);
    await Promise.all([...byRequest.values()].map((requestRows) => this.group.submit('predictions', toItem(requestRows))));
  }

  async get(keys: readonly PredictionKey[]): Promise<StoredPrediction[]> {
    const items = await this.fetch([...new Set(keys.map((k) => k.requestId))], false);
    const wanted = new Set(keys.map((k) => `${k.requestId}#${k.row}`));
    return items.flatMap((item) => fromItem(item, false)).filter((p) => wanted.has(`${p.requestId}#${p.row}`));
  }

  async byTime(model: string, from: string, to: string, limit: number, plant?: string | null): Promise<StoredPrediction[]> {
    // The index carries `plant`: one plant's rows are filtered there, so another plant's traffic costs index reads only.
    const byPlant = plant === undefined ? {} : plant === null ? { FilterExpression: 'attribute_not_exists(#p)' } : { FilterExpression: '#p = :p' };
    const rows: StoredPrediction[] = [];
    const query = {
      ExpressionAttributeNames: (plant === undefined ? {} : { '#p': 'plant' }) as Record<string, string>,
      ExpressionAttributeValues: (typeof plant === 'string' ? { ':p': plant } : {}) as Record<string, unknown>,
      ...byPlant,
      Limit: 100,
      ScanIndexForward: false,
    };
    for await (const page of this.indexPages(model, from, to, query)) {
      const ids = page.map((i) => String(i.id));
      // Newest request first, each request's rows in order; the whole answer is reversed to oldest first.
      const byId = new Map((await this.fetch(ids)).map((item) => [item.id, item]));
      for (const id of ids) {
        const item = byId.get(id);
        // The item's own plant decides too (an index built before it carried `plant` filters nothing).
        if (item && (plant === undefined || (item.plant ?? null) === plant)) rows.push(...fromItem(item).reverse());
      }
      if (rows.length >= limit) break;
    }
    return rows.slice(0, limit).reverse();
  }

  /** The `byModelTime` index entries of `model` in [from, to], page by page; `extra` adds to the query. */
  private async *indexPages(
    model: string,
    from: string,
    to: string,
    extra: Omit<QueryCommandInput, 'TableName' | 'IndexName' | 'KeyConditionExpression'> & { ExpressionAttributeNames: Record<string, string>; ExpressionAttributeValues: Record<string, unknown> },
  ): AsyncGenerator<Record<string, unknown>[]> {
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({
          ...extra,
          TableName: this.tableName,
          IndexName: 'byModelTime',
          KeyConditionExpression: '#m = :m AND tsk BETWEEN :from AND :to',
          ExpressionAttributeNames: { '#m': 'model', ...extra.ExpressionAttributeNames },
          ExpressionAttributeValues: { ':m': model, ':from': from, ':to': `${to}~`, ...extra.ExpressionAttributeValues },
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      yield out.Items ?? [];
      start = out.LastEvaluatedKey;
    } while (start);
  }

  async servedPairs(model: string, from: string, to: string): Promise<ServedPair[]> {
    const pairs = new Map<string, ServedPair>();
    const query = { ProjectionExpression: '#p, #v, tsk', ExpressionAttributeNames: { '#p': 'plant', '#v': 'version' }, ExpressionAttributeValues: {} };
    for await (const page of this.indexPages(model, from, to, query)) {
      for (const item of page) {
        if (typeof item.version !== 'string') continue; // an index built before it carried `version`
        const plant = typeof item.plant === 'string' ? item.plant : undefined;
        const time = String(item.tsk).split('#')[0]!;
        const key = `${item.version}|${plant ?? ''}`;
        const seen = pairs.get(key);
        if (!seen || seen.last < time) pairs.set(key, { version: item.version, ...(plant ? { plant } : {}), last: time });
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

  /**
   * The request items of `ids` (missing ones left out), 100 keys per BatchGetItem, unprocessed keys re-asked;
   * without `xs` (the inputs) unless `withInputs`.
   */
  private async fetch(ids: readonly string[], withInputs = true): Promise<RequestItem[]> {
    const found: RequestItem[] = [];
    const names = ['id', 'model', 'version', 'plant', 'principal', 'time', 'level', 'ttl', 'f', 'rows', 'obs'];
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

/** One request's rows as one item; they share request id, model, version, plant, principal, time, level and TTL. */
function toItem(rows: readonly StoredPrediction[]): RequestItem {
  const first = rows[0]!;
  for (const row of rows) {
    if (row.model !== first.model || row.version !== first.version || row.plant !== first.plant || row.principal !== first.principal || row.time !== first.time || row.level !== first.level || row.ttl !== first.ttl) {
      throw new Error(`served rows of request ${first.requestId} disagree on what a request's rows share`);
    }
  }
  const f = Object.keys(first.inputs);
  const sameFeatures = (inputs: Record<string, number>) => Object.keys(inputs).length === f.length && f.every((name) => inputs[name] !== undefined);
  const item: RequestItem = {
    id: first.requestId,
    model: first.model,
    version: first.version,
    ...(first.plant !== undefined ? { plant: first.plant } : {}),
    principal: first.principal,
    time: first.time,
    level: first.level,
    ttl: first.ttl,
    tsk: `${first.time}#${first.requestId}`,
    f,
    rows: rows.map((r) => ({ r: r.row, ...(sameFeatures(r.inputs) ? {} : { m: r.inputs }), p: r.prediction, i: r.interval })),
    xs: rows.map((r) => (sameFeatures(r.inputs) ? f.map((name) => r.inputs[name]!) : [])),
    obs: {},
  };
  // A rough upper bound of DynamoDB's size (names and numbers as text): far below the limit for what the routes accept.
  if (JSON.stringify(item).length > maxItemBytes) throw new Error(`served rows of request ${first.requestId} exceed DynamoDB's item size`);
  return item;
}

/** The rows of a request item; `inputs` empty when the item was read without them ({@link DynamoDbPredictionLog.get}). */
function fromItem(item: RequestItem, withInputs = true): StoredPrediction[] {
  if (!Array.isArray(item.rows)) return []; // not a request item of this layout
  const inputsOf = (row: RequestItem['rows'][number], k: number): Record<string, number> => {
    if (!withInputs) return {};
    if (row.m) return row.m;
    const x = row.x ?? item.xs?.[k] ?? [];
    return Object.fromEntries(item.f.map((name, j) => [name, x[j]!]));
  };
  return item.rows.map((row, k) => {
    const observed = item.obs?.[String(row.r)];
    return {
      requestId: item.id,
      row: row.r,
      model: item.model,
      version: item.version,
      ...(item.plant !== undefined ? { plant: item.plant } : {}),
      principal: item.principal,
      time: item.time,
      inputs: inputsOf(row, k),
      prediction: row.p,
      interval: row.i,
      level: item.level,
      ...(observed ? { actual: observed.a, observedAt: observed.t } : {}),
      ttl: item.ttl,
    };
  });
}
