import { QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { latencyBucketsMs, type StatsStore, type VariantCounters, type VariantSample } from '../core/ports.js';

function bucketOf(latencyMs: number): number {
  const i = latencyBucketsMs.findIndex((bound) => latencyMs <= bound);
  return i === -1 ? latencyBucketsMs.length : i;
}

/**
 * Stats table (pk, sk): counter items per model version, `pk = model#<name>`,
 * `sk = version#<v>#<shard>` (or `shadow#<v>#<shard>` for shadow traffic). Each request adds its sample with
 * ONE atomic ADD to one of `shards` items picked at random, so heavy traffic spreads over several items
 * instead of throttling one; a read adds the shards up. Every container adds to the same figures and they
 * add up exactly to what was served.
 */
export class DynamoDbStatsStore implements StatsStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly shards = 8,
    private readonly random: () => number = Math.random,
  ) {}

  async record(model: string, version: string, sample: VariantSample): Promise<void> {
    const shard = Math.floor(this.random() * this.shards);
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `model#${model}`, sk: `${sample.shadow ? 'shadow' : 'version'}#${version}#${shard}` },
        UpdateExpression: `ADD requests :q, errors :e, predictions :r, predictionSum :p, latencySumMs :l, cacheHits :c, alerts :a, h${bucketOf(sample.latencyMs)} :one`,
        ExpressionAttributeValues: {
          ':q': sample.requests,
          ':e': sample.errors,
          ':r': sample.rows,
          ':p': sample.predictionSum,
          ':l': sample.latencyMs,
          ':c': sample.cacheHits,
          ':a': sample.alerts,
          ':one': 1,
        },
      }),
    );
  }

  async read(model: string): Promise<VariantCounters[]> {
    const byVariant = new Map<string, VariantCounters>();
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.db.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `model#${model}` },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        // `<kind>#<version>#<shard>`; an item written before sharding has no shard part.
        const [kind, version] = String(item.sk).split('#') as [string, string];
        if (kind !== 'version' && kind !== 'shadow') continue;
        const n = (name: string) => Number(item[name] ?? 0);
        const key = `${kind}#${version}`;
        const total =
          byVariant.get(key) ??
          ({
            version,
            shadow: kind === 'shadow',
            requests: 0,
            errors: 0,
            rows: 0,
            predictionSum: 0,
            latencySumMs: 0,
            cacheHits: 0,
            alerts: 0,
            latencyHistogram: Array.from({ length: latencyBucketsMs.length + 1 }, () => 0),
          } satisfies VariantCounters);
        total.requests += n('requests');
        total.errors += n('errors');
        total.rows += n('predictions');
        total.predictionSum += n('predictionSum');
        total.latencySumMs += n('latencySumMs');
        total.cacheHits += n('cacheHits');
        total.alerts += n('alerts');
        total.latencyHistogram.forEach((_, i) => (total.latencyHistogram[i]! += n(`h${i}`)));
        byVariant.set(key, total);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return [...byVariant.values()];
  }
}
