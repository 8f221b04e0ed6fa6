import { QueryCommand as RawQueryCommand, UpdateItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { latencyBucketsMs, type StatsStore, type VariantCounters, type VariantSample } from '../core/ports.js';
import { GroupCommit, type Outcome } from './group-commit.js';

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

function decimalText(d: Decimal): string {
  const negative = d.units < 0n;
  const digits = (negative ? -d.units : d.units).toString().padStart(d.scale + 1, '0');
  const text = d.scale === 0 ? digits : `${digits.slice(0, -d.scale)}.${digits.slice(-d.scale)}`;
  return `${negative ? '-' : ''}${text}`;
}

function decimalToNumber(d: Decimal): number {
  return Number(decimalText(d));
}

/** DynamoDB keeps 38 significant digits; a sum needing more is written sample by sample instead. */
function fitsDynamoDb(text: string): boolean {
  return text.replace(/^-/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '').length <= 38;
}

const zero: Decimal = { units: 0n, scale: 0 };

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
 * `sk = version#<v>#<shard>` (or `shadow#<v>#<shard>` for shadow traffic). Samples are added with atomic
 * ADDs to one of `shards` items picked at random, so heavy traffic spreads over several items instead of
 * throttling one; a read adds the shards up. Every container adds to the same figures and they add up
 * exactly to what was served.
 *
 * Group commit: while a partition's variant ADD is in flight, the samples recorded meanwhile in this process
 * wait and go as ONE ADD of their sums (exact decimal sums, as DynamoDB would have added them one by one),
 * and each `record` resolves when the ADDs carrying its sample have. A Lambda container records one sample
 * at a time, so there every sample is its own ADD (one per partition), as before.
 */
export class DynamoDbStatsStore implements StatsStore {
  private readonly group = new GroupCommit<VariantSample, void>((key, samples) => this.add(key, samples));

  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
    private readonly shards = 8,
    private readonly random: () => number = Math.random,
  ) {}

  async record(model: string, version: string, sample: VariantSample, plant?: string): Promise<void> {
    // A plant's sample goes to both partitions: the deployment's totals stay whole, and the plant reads its own.
    const variant = `${sample.shadow ? 'shadow' : 'version'}#${version}`;
    await Promise.all([undefined, ...(plant === undefined ? [] : [plant])].map((p) => this.group.submit(`${partition(model, p)}\u0000${variant}`, sample)));
  }

  /** One ADD of the samples' sums to a random shard of the variant (`<partition>\0<kind>#<version>`). */
  private async add(key: string, samples: VariantSample[]): Promise<Outcome<void>[]> {
    const [pk, variant] = key.split('\u0000') as [string, string];
    // A sample DynamoDB cannot take (not a finite number) fails alone, not the samples it came with.
    const finite = (s: VariantSample) => Number.isFinite(s.predictionSum) && Number.isFinite(s.latencyMs);
    if (!samples.every(finite)) {
      const good = samples.filter(finite);
      if (good.length > 0) await this.add(key, good);
      return samples.map((s) => (finite(s) ? { ok: true, value: undefined } : { ok: false, error: new RangeError('stats sample is not a finite number') }));
    }
    const ints = { requests: 0, errors: 0, rows: 0, cacheHits: 0, alerts: 0 };
    let predictionSum = zero;
    let latencySum = zero;
    const histogram = new Map<number, number>();
    for (const s of samples) {
      ints.requests += s.requests;
      ints.errors += s.errors;
      ints.rows += s.rows;
      ints.cacheHits += s.cacheHits;
      ints.alerts += s.alerts;
      // String(x) is the decimal the SDK would have sent for x alone.
      predictionSum = addDecimal(predictionSum, parseDecimal(String(s.predictionSum)));
      latencySum = addDecimal(latencySum, parseDecimal(String(s.latencyMs)));
      const bucket = bucketOf(s.latencyMs);
      histogram.set(bucket, (histogram.get(bucket) ?? 0) + 1);
    }
    const sums = { p: decimalText(predictionSum), l: decimalText(latencySum) };
    if (samples.length > 1 && !(fitsDynamoDb(sums.p) && fitsDynamoDb(sums.l))) {
      for (const s of samples) await this.add(key, [s]);
      return samples.map(() => ({ ok: true, value: undefined }));
    }
    const buckets = [...histogram.entries()];
    const shard = Math.floor(this.random() * this.shards);
    await this.db.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { pk: { S: pk }, sk: { S: `${variant}#${shard}` } },
        UpdateExpression: `ADD requests :q, errors :e, predictions :r, predictionSum :p, latencySumMs :l, cacheHits :c, alerts :a, ${buckets.map(([b]) => `h${b} :h${b}`).join(', ')}`,
        ExpressionAttributeValues: {
          ':q': { N: String(ints.requests) },
          ':e': { N: String(ints.errors) },
          ':r': { N: String(ints.rows) },
          ':p': { N: sums.p },
          ':l': { N: sums.l },
          ':c': { N: String(ints.cacheHits) },
          ':a': { N: String(ints.alerts) },
          ...Object.fromEntries(buckets.map(([b, n]) => [`:h${b}`, { N: String(n) }])),
        },
      }),
    );
    return samples.map(() => ({ ok: true, value: undefined }));
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
