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

/** Takes this process has counted in the store ahead of its requests (see {@link RateReserveOptions}). */
interface Reserve {
  windowEnd: number;
  /** Counted in the store, not yet handed to a request. */
  left: number;
  /** The store's count after the write that made the reserve, refunds aside. */
  count: number;
}

/**
 * Reserving ahead, for a process that serves many requests of one principal (the local and edge twin): a take
 * that goes to the store also counts up to `maxAhead` more takes in the same conditional ADD, which this
 * process then hands to its next requests of that counter without a store call. The store's count holds
 * every take handed out plus the ones reserved, so no process can let more than the limit through; a reserve
 * is never more than an eighth of what the window has left, and near the limit there is none, so there the
 * takes are exact one by one. The trade: takes reserved by a process that then stops (or serves no further
 * request of that principal in the window) are counted though no request used them, so with reserving on, a
 * principal whose requests are spread over several processes could be refused up to `maxAhead` requests per
 * process before its limit, for the rest of that window. Off (0) in Lambda: a container serves one request
 * at a time, and its reserve would outlive it.
 */
export interface RateReserveOptions {
  maxAhead: number;
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
  private readonly windows = new WeakMap<RateDecision, { windowStart: number; cost: number; key?: string }>();
  /** Reserved takes per counter item (`bucket#window#limit`); empty unless reserving ahead. */
  private readonly reserves = new Map<string, Reserve>();

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
    private readonly reserve: RateReserveOptions = { maxAhead: 0 },
  ) {}

  take(bucket: string, limit: number, windowSeconds: number, cost = 1): Promise<RateDecision> {
    const nowSeconds = this.now() / 1000;
    const windowStart = Math.floor(nowSeconds / windowSeconds) * windowSeconds;
    if (cost !== 1) return this.takeCost(bucket, limit, windowSeconds, windowStart, nowSeconds, cost);
    const key = `${bucket}#${windowStart}#${limit}`;
    const reserved = this.fromReserve(key, limit, windowStart, windowSeconds, nowSeconds);
    if (reserved !== undefined) return Promise.resolve(reserved);
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

  /** A take handed out of this process's reserve for the counter, if it has one left. */
  private fromReserve(key: string, limit: number, windowStart: number, windowSeconds: number, nowSeconds: number): RateDecision | undefined {
    const reserved = this.reserves.get(key);
    if (reserved === undefined || reserved.left === 0) return undefined;
    reserved.left--;
    const resetSeconds = Math.max(1, Math.ceil(windowStart + windowSeconds - nowSeconds));
    const decision = { allowed: true, limit, remaining: Math.max(0, limit - (reserved.count - reserved.left)), resetSeconds };
    this.windows.set(decision, { windowStart, cost: 1, key });
    return decision;
  }

  /**
   * A weighted take (a sweep's rows): its own conditional `ADD cost`, outside the request group commit. What
   * this process holds in reserve for the counter is counted in the store but not handed out, so it pays for
   * the take first (only the rest is added): else a principal with a reserve would be refused before its limit.
   */
  private async takeCost(bucket: string, limit: number, windowSeconds: number, windowStart: number, nowSeconds: number, cost: number): Promise<RateDecision> {
    const resetSeconds = Math.max(1, Math.ceil(windowStart + windowSeconds - nowSeconds));
    const reserve = this.reserves.get(`${bucket}#${windowStart}#${limit}`);
    const fromReserve = cost > limit ? 0 : Math.min(reserve?.left ?? 0, cost);
    if (reserve !== undefined) reserve.left -= fromReserve;
    const rest = cost - fromReserve;
    let count: number | undefined;
    try {
      count = cost > limit ? undefined : rest === 0 ? reserve!.count : await this.add(bucket, windowStart, windowSeconds, rest, limit - rest);
    } finally {
      // Refused or failed: what it took from the reserve goes back (it is still counted in the store), to the
      // counter's reserve as it is now (a new one may have replaced it meanwhile: keepReserve).
      const current = this.reserves.get(`${bucket}#${windowStart}#${limit}`);
      if (count === undefined && current !== undefined) current.left += fromReserve;
    }
    if (count === undefined) return { allowed: false, limit, remaining: 0, resetSeconds };
    // The reserve's view of the count now includes this take.
    if (reserve !== undefined) reserve.count = count;
    const decision = { allowed: true, limit, remaining: Math.max(0, limit - count + (reserve?.left ?? 0)), resetSeconds };
    this.windows.set(decision, { windowStart, cost });
    return decision;
  }

  async refund(bucket: string, decision: RateDecision): Promise<void> {
    const taken = this.windows.get(decision);
    if (taken === undefined) return;
    this.windows.delete(decision);
    // A take of a counter this process reserves for goes back to the reserve: the store already counts it.
    const reserved = taken.key === undefined ? undefined : this.reserves.get(taken.key);
    if (reserved !== undefined) {
      reserved.left++;
      return;
    }
    try {
      await this.db.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: `${bucket}#${taken.windowStart}` },
          UpdateExpression: 'ADD #count :minus',
          ConditionExpression: '#count >= :cost',
          ExpressionAttributeNames: { '#count': 'count' },
          ExpressionAttributeValues: { ':minus': -taken.cost, ':cost': taken.cost },
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
        // Takes that waited for the write in flight are served first from what it reserved (or a refund put back).
        const group = queue.waiters.splice(0).filter((waiter) => {
          const reserved = this.fromReserve(key, limit, windowStart, windowSeconds, waiter.nowSeconds);
          if (reserved !== undefined) waiter.resolve(reserved);
          return reserved === undefined;
        });
        if (group.length === 0) continue;
        const decide = (waiter: Waiter, count: number | undefined): RateDecision => {
          const resetSeconds = Math.max(1, Math.ceil(windowStart + windowSeconds - waiter.nowSeconds));
          if (count === undefined) return { allowed: false, limit, remaining: 0, resetSeconds };
          const decision = { allowed: true, limit, remaining: Math.max(0, limit - count), resetSeconds };
          this.windows.set(decision, { windowStart, cost: 1, key });
          return decision;
        };
        try {
          const counts = (await this.takeAhead(key, bucket, windowStart, windowSeconds, limit, group.length)) ?? (await this.takeMany(bucket, windowStart, windowSeconds, limit, group.length));
          group.forEach((waiter, i) => waiter.resolve(decide(waiter, counts[i])));
        } catch (error) {
          for (const waiter of group) waiter.reject(error);
        }
      }
    } finally {
      this.queues.delete(key);
    }
  }

  /**
   * With reserving on: takes `n` and reserves ahead in one conditional ADD, if the window has room for both
   * and for eight times the reserve; the counts of the `n` takes, or undefined to take them exactly instead.
   */
  private async takeAhead(key: string, bucket: string, windowStart: number, windowSeconds: number, limit: number, n: number): Promise<number[] | undefined> {
    const known = this.reserves.get(key)?.count ?? 0;
    const ahead = Math.min(this.reserve.maxAhead, Math.floor((limit - known - n) / 8));
    if (ahead < 1) return undefined;
    const total = await this.add(bucket, windowStart, windowSeconds, n + ahead, limit - n - ahead);
    if (total === undefined) return undefined;
    this.keepReserve(key, { windowEnd: windowStart + windowSeconds, left: ahead, count: total });
    return Array.from({ length: n }, (_, i) => total - ahead - n + 1 + i);
  }

  private keepReserve(key: string, reserve: Reserve): void {
    // Reserves of windows that have ended are dropped when a new one is made (at most one per maxAhead takes).
    const nowSeconds = this.now() / 1000;
    for (const [other, kept] of this.reserves) if (kept.windowEnd <= nowSeconds) this.reserves.delete(other);
    // Takes put back into the old reserve while this one was being written (a refund, a refused weighted
    // take) are counted in the store too: they stay usable, else the principal is refused before its limit.
    const before = this.reserves.get(key);
    this.reserves.set(key, before === undefined ? reserve : { ...reserve, left: reserve.left + before.left });
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
