import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, BatchWriteCommand, QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { PredictionKey, PredictionLog, StoredPrediction } from '../core/quality/ports.js';

/**
 * Predictions table (id = `<requestId>#<row>`): served rows kept for feedback, expiring by TTL. The `byModelTime`
 * index (model, tsk = `<time>#<requestId>#<row>`) finds rows by time for feedback by inputs and for drift.
 */
export class DynamoDbPredictionLog implements PredictionLog {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async record(rows: readonly StoredPrediction[]): Promise<void> {
    for (let i = 0; i < rows.length; i += 25) {
      let items: Record<string, unknown>[] = rows.slice(i, i + 25).map((r) => ({ PutRequest: { Item: { id: idOf(r), ...r, tsk: `${r.time}#${r.requestId}#${r.row}` } } }));
      // Unprocessed items (throttling) are retried a few times; after that the rows go unrecorded (bookkeeping).
      for (let attempt = 0; attempt < 3 && items.length > 0; attempt++) {
        const out = await this.db.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: items as never } }));
        items = (out.UnprocessedItems?.[this.tableName] ?? []) as Record<string, unknown>[];
      }
    }
  }

  async get(keys: readonly PredictionKey[]): Promise<StoredPrediction[]> {
    const found: StoredPrediction[] = [];
    for (let i = 0; i < keys.length; i += 100) {
      let pending: Record<string, unknown>[] = keys.slice(i, i + 100).map((k) => ({ id: idOf(k) }));
      for (let attempt = 0; attempt < 5 && pending.length > 0; attempt++) {
        const out = await this.db.send(new BatchGetCommand({ RequestItems: { [this.tableName]: { Keys: pending } } }));
        found.push(...((out.Responses?.[this.tableName] ?? []) as StoredPrediction[]));
        pending = (out.UnprocessedKeys?.[this.tableName]?.Keys ?? []) as Record<string, unknown>[];
      }
    }
    return found.map(strip);
  }

  async byTime(model: string, from: string, to: string, limit: number): Promise<StoredPrediction[]> {
    const items: StoredPrediction[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: 'byModelTime',
          KeyConditionExpression: '#m = :m AND tsk BETWEEN :from AND :to',
          ExpressionAttributeNames: { '#m': 'model' },
          ExpressionAttributeValues: { ':m': model, ':from': from, ':to': `${to}~` },
          Limit: Math.min(1000, limit - items.length),
          ScanIndexForward: false,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      items.push(...((out.Items ?? []) as StoredPrediction[]));
      start = out.LastEvaluatedKey;
    } while (start && items.length < limit);
    return items.map(strip).reverse();
  }

  async observe(key: PredictionKey, actual: number, at: string): Promise<'stored' | 'duplicate'> {
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { id: idOf(key) },
          UpdateExpression: 'SET actual = :a, observedAt = :t',
          ConditionExpression: 'attribute_exists(id) AND attribute_not_exists(actual)',
          ExpressionAttributeValues: { ':a': actual, ':t': at },
        }),
      );
      return 'stored';
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return 'duplicate';
      throw error;
    }
  }
}

function idOf(key: PredictionKey): string {
  return `${key.requestId}#${key.row}`;
}

function strip(item: StoredPrediction & { tsk?: string; id?: string }): StoredPrediction {
  const { tsk: _tsk, id: _id, ...rest } = item;
  return rest;
}
