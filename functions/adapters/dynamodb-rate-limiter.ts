import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RateDecision, RateLimiter } from '../core/ports.js';

/**
 * Fixed-window counters in the RateCounters table: item `pk = <bucket>#<window start>`, taken with ONE
 * conditional ADD (`count < limit`), so concurrent containers can never let more than `limit` through.
 * Items carry a TTL; a window's item is never read after its window, so late TTL deletion (or none, in
 * dynalite) never affects a decision.
 */
export class DynamoDbRateLimiter implements RateLimiter {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  async take(bucket: string, limit: number, windowSeconds: number): Promise<RateDecision> {
    const nowSeconds = this.now() / 1000;
    const windowStart = Math.floor(nowSeconds / windowSeconds) * windowSeconds;
    const resetSeconds = Math.max(1, Math.ceil(windowStart + windowSeconds - nowSeconds));
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `${bucket}#${windowStart}` },
          UpdateExpression: 'ADD #count :one SET #ttl = if_not_exists(#ttl, :ttl)',
          ConditionExpression: 'attribute_not_exists(#count) OR #count < :limit',
          ExpressionAttributeNames: { '#count': 'count', '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':ttl': windowStart + windowSeconds + 3600 },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      const count = Number(Attributes?.count ?? 1);
      return { allowed: true, limit, remaining: Math.max(0, limit - count), resetSeconds };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { allowed: false, limit, remaining: 0, resetSeconds };
      throw error;
    }
  }
}
