import { QueryCommand as RawQueryCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { latencyBucketsMs, type StatsStore, type VariantCounters, type VariantSample } from '../core/ports.js';

/** An exact decimal as a BigInt scaled by 10^scale (DynamoDB numbers are decimal strings). */
interface Decimal {
  units: bigint;
  scale: number;
}

function parseDecimal(text: string): Decimal {
  const [mantissa = '0', exponent = '0'] = text.toLowerCase().split('e');
  const negative = mantissa.startsWith('-');
  const [whole = '0', fraction = ''] = mantissa.replace(/^[-+]/, '').split('.');
  let units = BigInt(`${whole}${fraction}` || '0');
  let scale = fraction.length - Number(exponent);
  if (scale < 0) {
    units *= 10n ** BigInt(-scale);
    scale = 0;
  }
  return { units: negative ? -units : units, scale };
}

function addDecimal(a: Decimal, b: Decimal): Decimal {
  const scale = Math.max(a.scale, b.scale);
  return { units: a.units * 10n ** BigInt(scale - a.scale) + b.units * 10n ** BigInt(scale - b.scale), scale };
}

function decimalToNumber(d: Decimal): number {
  const negative = d.units < 0n;
  const digits = (negative ? -d.units : d.units).toString().padStart(d.scale + 1, '0');
  const text = d.scale === 0 ? digits : `${digits.slice(0, -d.scale)}.${digits.slice(-d.scale)}`;
  return Number(`${negative ? '-' : ''}${text}`);
}

function bucketOf(latencyMs: number): number {
  const i = latencyBucketsMs.findIndex((bound) => latencyMs <= bound);
  return i === -1 ? latencyBucketsMs.length : i;
}

/** The partition of a model's counters: the deployment's, or one plant's (`model#<name>#plant#<plant>`). */
function partition(model: string, plant: string | undefined): string {
  return plant === undefined ? `model#${model}` : `model#${model}#plant#${plant}`;
}

/**
 * Stats table (pk, sk): counter items per model version, `pk = model#<name>` (deployment-wide) and, for
 * traffic from a plant's principals, also `pk = model#<name>#plant#<plant>` (what that plant reads),
 * `sk = version#<v>#<shard>` (or `shadow#<v>#<shard>` for shadow traffic). Each request adds its sample with
 * ONE atomic ADD (per partition) to one of `shards` items picked at random, so heavy traffic spreads over several items
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

  async record(model: string, version: string, sample: VariantSample, plant?: string): Promise<void> {
    const shard = Math.floor(this.random() * this.shards);
    // A plant's sample goes to both partitions: the deployment's totals stay whole, and the plant reads its own.
    await Promise.all([undefined, ...(plant === undefined ? [] : [plant])].map((p) => this.add(partition(model, p), version, shard, sample)));
  }

  private async add(pk: string, version: string, shard: number, sample: VariantSample): Promise<void> {
    await this.db.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { pk, sk: `${sample.shadow ? 'shadow' : 'version'}#${version}#${shard}` },
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

  /** Adds the shards up as exact decimals, so a sum reads the same however the samples fell on the shards. */
  async read(model: string, plant?: string): Promise<VariantCounters[]> {
    const fields = ['requests', 'errors', 'predictions', 'predictionSum', 'latencySumMs', 'cacheHits', 'alerts', ...latencyBucketsMs.map((_, i) => `h${i}`), `h${latencyBucketsMs.length}`];
    const totals = new Map<string, { version: string; shadow: boolean; sums: Map<string, Decimal> }>();
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      // The low-level command keeps DynamoDB's numbers as decimal strings.
      const page = await this.db.send(
        new RawQueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': { S: partition(model, plant) } },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        // `<kind>#<version>#<shard>`; an item written before sharding has no shard part.
        const [kind, version] = String(item.sk?.S ?? '').split('#') as [string, string];
        if (kind !== 'version' && kind !== 'shadow') continue;
        const key = `${kind}#${version}`;
        const total = totals.get(key) ?? { version, shadow: kind === 'shadow', sums: new Map<string, Decimal>() };
        for (const field of fields) {
          const n = item[field]?.N;
          if (n !== undefined) total.sums.set(field, addDecimal(total.sums.get(field) ?? { units: 0n, scale: 0 }, parseDecimal(n)));
        }
        totals.set(key, total);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return [...totals.values()].map(({ version, shadow, sums }) => {
      const n = (field: string) => decimalToNumber(sums.get(field) ?? { units: 0n, scale: 0 });
      return {
        version,
        shadow,
        requests: n('requests'),
        errors: n('errors'),
        rows: n('predictions'),
        predictionSum: n('predictionSum'),
        latencySumMs: n('latencySumMs'),
        cacheHits: n('cacheHits'),
        alerts: n('alerts'),
        latencyHistogram: Array.from({ length: latencyBucketsMs.length + 1 }, (_, i) => n(`h${i}`)),
      };
    });
  }
}
