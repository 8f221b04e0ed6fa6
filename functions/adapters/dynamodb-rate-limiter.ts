import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { RateDecision, RateLimiter } from '../core/ports.js';

interface Waiter {
  nowSeconds: number;
  resolve(decision: RateDecision): void;
  reject(error: unknown): void;
}

/** The takes of one counter item (bucket, window, limit) waiting for the write in flight to finish. */
interface Queue {
  waiters: Waiter[];
}

/**
 * Fixed-window counters in the RateCounters table: item `pk = <bucket>#<window start>`, taken with a
 * conditional ADD (`count + n <= limit`), so concurrent containers can never let more than `limit` through.
 * Items carry a TTL; a window's item is never read after its window, so late TTL deletion (or none, in
 * dynalite) never affects a decision.
 *
 * Group commit: the takes of one item made in one event-loop turn go together; while a take's write for an
 * item is in flight, further takes of the same item in this process wait and then go as ONE conditional `ADD n`; each gets the count it would have had in turn. A Lambda
 * container serves one request at a time, so there every take is its own write; the local twin serves many
 * at once, and there this turns one DynamoDB write per request into one per round trip. Near the limit (the
 * combined ADD would overshoot), the group falls back to one write per take, so decisions stay exact.
 */
export class DynamoDbRateLimiter implements RateLimiter {
  private readonly queues = new Map<string, Queue>();
  /** The window each allowed decision counted in, for {@link refund} (gone with the decision). */
  private readonly windows = new WeakMap<RateDecision, number>();

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {}

  take(bucket: string, limit: number, windowSeconds: number): Promise<RateDecision> {
    const nowSeconds = this.now() / 1000;
    const windowStart = Math.floor(nowSeconds / windowSeconds) * windowSeconds;
    const key = `${bucket}#${windowStart}#${limit}`;
    return new Promise((resolve, reject) => {
      const queued = this.queues.get(key);
      if (queued) {
        queued.waiters.push({ nowSeconds, resolve, reject });
        return;
      }
      const queue: Queue = { waiters: [{ nowSeconds, resolve, reject }] };
      this.queues.set(key, queue);
      // At the end of this event-loop turn, with the other takes the turn made (group-commit.ts does the same).
      setImmediate(() => void this.drain(key, queue, bucket, windowStart, windowSeconds, limit));
    });
  }

  async refund(bucket: string, decision: RateDecision): Promise<void> {
    const windowStart = this.windows.get(decision);
    if (windowStart === undefined) return;
    this.windows.delete(decision);
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `${bucket}#${windowStart}` },
          UpdateExpression: 'ADD #count :minus',
          ConditionExpression: '#count > :zero',
          ExpressionAttributeNames: { '#count': 'count' },
          ExpressionAttributeValues: { ':minus': -1, ':zero': 0 },
        }),
      );
    } catch (error) {
      // Nothing to give back (the window's item is gone): the count cannot go below zero.
      if (error instanceof ConditionalCheckFailedException) return;
      throw error;
    }
  }

  /** Writes the queue's takes, a group per round trip, until no take is waiting. */
  private async drain(key: string, queue: Queue, bucket: string, windowStart: number, windowSeconds: number, limit: number): Promise<void> {
    try {
      while (queue.waiters.length > 0) {
        const group = queue.waiters.splice(0);
        const decide = (waiter: Waiter, count: number | undefined): RateDecision => {
          const resetSeconds = Math.max(1, Math.ceil(windowStart + windowSeconds - waiter.nowSeconds));
          if (count === undefined) return { allowed: false, limit, remaining: 0, resetSeconds };
          const decision = { allowed: true, limit, remaining: Math.max(0, limit - count), resetSeconds };
          this.windows.set(decision, windowStart);
          return decision;
        };
        try {
          const counts = await this.takeMany(bucket, windowStart, windowSeconds, limit, group.length);
          group.forEach((waiter, i) => waiter.resolve(decide(waiter, counts[i])));
        } catch (error) {
          for (const waiter of group) waiter.reject(error);
        }
      }
    } finally {
      this.queues.delete(key);
    }
  }

  /** Takes `n` from the item: the count after each take, in order, or undefined for a refused one. */
  private async takeMany(bucket: string, windowStart: number, windowSeconds: number, limit: number, n: number): Promise<(number | undefined)[]> {
    if (n > 1 && n <= limit) {
      const total = await this.add(bucket, windowStart, windowSeconds, n, limit - n);
      if (total !== undefined) return Array.from({ length: n }, (_, i) => total - n + 1 + i);
    }
    // One write per take. Within a window the count only grows, so after the first refusal the rest are too.
    const counts: (number | undefined)[] = [];
    for (let i = 0; i < n; i++) {
      const total = counts.length > 0 && counts[counts.length - 1] === undefined ? undefined : await this.add(bucket, windowStart, windowSeconds, 1, limit - 1);
      counts.push(total);
    }
    return counts;
  }

  /** ADD `n` if the stored count is at most `maxBefore`; the new count, or undefined when the condition fails. */
  private async add(bucket: string, windowStart: number, windowSeconds: number, n: number, maxBefore: number): Promise<number | undefined> {
    try {
      const { Attributes } = await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `${bucket}#${windowStart}` },
          UpdateExpression: 'ADD #count :n SET #ttl = if_not_exists(#ttl, :ttl)',
          ConditionExpression: 'attribute_not_exists(#count) OR #count <= :max',
          ExpressionAttributeNames: { '#count': 'count', '#ttl': 'ttl' },
          ExpressionAttributeValues: { ':n': n, ':max': maxBefore, ':ttl': windowStart + windowSeconds + 3600 },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return Number(Attributes?.count ?? n);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }
}
