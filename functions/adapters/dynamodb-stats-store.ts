import { QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { StatsStore } from '../core/ports.js';

/**
 * Stats table (pk, sk): one counter item per model version, `pk = model#<name>`, `sk = version#<v>`, taken
 * with an atomic ADD so every container adds to the same figures.
 */
export class DynamoDbStatsStore implements StatsStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async addPredictions(model: string, version: string, requests: number, rows: number): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `model#${model}`, sk: `version#${version}` },
        UpdateExpression: 'ADD requests :q, predictions :r',
        ExpressionAttributeValues: { ':q': requests, ':r': rows },
      }),
    );
  }

  async getPredictions(model: string) {
    const byVersion: Record<string, { requests: number; rows: number }> = {};
    let requests = 0;
    let rows = 0;
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :v)',
          ExpressionAttributeValues: { ':pk': `model#${model}`, ':v': 'version#' },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const version = String(item.sk).slice('version#'.length);
        const entry = { requests: Number(item.requests ?? 0), rows: Number(item.predictions ?? 0) };
        byVersion[version] = entry;
        requests += entry.requests;
        rows += entry.rows;
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return { requests, rows, byVersion };
  }
}
