import { QueryCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { latencyBucketsMs, type StatsStore, type VariantCounters, type VariantSample } from '../core/ports.js';

function bucketOf(latencyMs: number): number {
  const i = latencyBucketsMs.findIndex((bound) => latencyMs <= bound);
  return i === -1 ? latencyBucketsMs.length : i;
}

/**
 * Stats table (pk, sk): one counter item per model version (`sk = version#<v>`, or `shadow#<v>` for shadow
 * traffic), `pk = model#<name>`. Each request adds its sample with ONE atomic ADD, so every container adds
 * to the same figures and they add up exactly to what was served.
 */
export class DynamoDbStatsStore implements StatsStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async record(model: string, version: string, sample: VariantSample): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk: `model#${model}`, sk: `${sample.shadow ? 'shadow' : 'version'}#${version}` },
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
    const out: VariantCounters[] = [];
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
        const [kind, version] = String(item.sk).split('#') as [string, string];
        if (kind !== 'version' && kind !== 'shadow') continue;
        const n = (name: string) => Number(item[name] ?? 0);
        out.push({
          version,
          shadow: kind === 'shadow',
          requests: n('requests'),
          errors: n('errors'),
          rows: n('predictions'),
          predictionSum: n('predictionSum'),
          latencySumMs: n('latencySumMs'),
          cacheHits: n('cacheHits'),
          alerts: n('alerts'),
          latencyHistogram: Array.from({ length: latencyBucketsMs.length + 1 }, (_, i) => n(`h${i}`)),
        });
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return out;
  }
}
