import { ConditionalCheckFailedException, QueryCommand as RawQueryCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetCommand, NumberValue, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { QualityBucket, QualityStore, RecalibrationRecord, ServedCursor, StoredCalibration } from '../core/quality/ports.js';

/**
 * A sum as DynamoDB takes it. Every double beyond 2^53 is an integer, and the document client refuses to write
 * those as numbers (a squared error of 1e8 is one): they go as their exact decimal digits instead. DynamoDB
 * refuses any number below 1e-130 in magnitude (a squared error of 1e-70 is one, against a model predicting 0):
 * such a sum is 0 to every figure, and goes as 0.
 */
function exact(value: number): number | NumberValue {
  if (value !== 0 && Math.abs(value) < 1e-130) return 0;
  return Number.isInteger(value) && !Number.isSafeInteger(value) ? NumberValue.from(BigInt(value).toString()) : value;
}

/**
 * Quality table (pk, sk), `pk = model#<name>`: error aggregates per hour of prediction, version and plant
 * (`sk = h#<hour>#<version>#<plant>`) and all-time (`sk = all#<version>#<plant>`), each added to with one
 * atomic ADD; and the online-recalibration state per version (`sk = recal#<version>`), written with a
 * revision check; a calibration added to a published version later (`sk = calib#<version>`); and the scheduled
 * evaluation's cursor of who was served (`sk = served`), written with a revision check.
 */
export class DynamoDbQualityStore implements QualityStore {
  constructor(
    private readonly db: DynamoDBDocumentClient,
    private readonly tableName: string,
  ) {}

  async add(model: string, buckets: readonly QualityBucket[]): Promise<void> {
    await Promise.all(
      buckets.map((b) =>
        this.db.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: { pk: `model#${model}`, sk: b.hour === 'all' ? `all#${b.version}#${b.plant}` : `h#${b.hour}#${b.version}#${b.plant}` },
            UpdateExpression: 'SET #version = :v, #plant = :p, #hour = :h ADD #count :c, sumErr :e, sumAbs :a, sumSq :s, withInterval :w, covered :k',
            ExpressionAttributeNames: { '#version': 'version', '#plant': 'plant', '#hour': 'hour', '#count': 'count' },
            ExpressionAttributeValues: { ':v': b.version, ':p': b.plant, ':h': b.hour, ':c': b.count, ':e': exact(b.sumErr), ':a': exact(b.sumAbs), ':s': exact(b.sumSq), ':w': b.withInterval, ':k': b.covered },
          }),
        ),
      ),
    );
  }

  private async query(model: string, condition: string, values: Record<string, string>): Promise<QualityBucket[]> {
    const items: QualityBucket[] = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      // The low-level command keeps DynamoDB's numbers as decimal strings: sums may hold more digits than a
      // double (the document client refuses to convert those), and a read must never fail on them.
      const out = await this.db.send(
        new RawQueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: `pk = :pk AND ${condition}`,
          ExpressionAttributeValues: Object.fromEntries(Object.entries({ ':pk': `model#${model}`, ...values }).map(([k, v]) => [k, { S: v }])),
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      const n = (item: Record<string, AttributeValue>, field: string) => Number(item[field]?.N ?? 0);
      for (const item of out.Items ?? []) {
        items.push({ version: String(item.version?.S), plant: String(item.plant?.S), hour: String(item.hour?.S), count: n(item, 'count'), sumErr: n(item, 'sumErr'), sumAbs: n(item, 'sumAbs'), sumSq: n(item, 'sumSq'), withInterval: n(item, 'withInterval'), covered: n(item, 'covered') });
      }
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  }

  async read(model: string, fromHour: string): Promise<QualityBucket[]> {
    const [hours, all] = await Promise.all([this.query(model, 'sk BETWEEN :from AND :to', { ':from': `h#${fromHour}`, ':to': 'h#~' }), this.query(model, 'begins_with(sk, :all)', { ':all': 'all#' })]);
    return [...hours, ...all];
  }

  async getCalibration(model: string, version: string): Promise<StoredCalibration | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: { pk: `model#${model}`, sk: `calib#${version}` }, ConsistentRead: true }));
    return Item ? { interval: Item.interval as StoredCalibration['interval'], calibration: Item.calibration as StoredCalibration['calibration'] } : undefined;
  }

  async putCalibration(model: string, version: string, calibration: StoredCalibration): Promise<void> {
    await this.db.send(new PutCommand({ TableName: this.tableName, Item: { pk: `model#${model}`, sk: `calib#${version}`, ...calibration } }));
  }

  async getRecalibration(model: string, version: string): Promise<RecalibrationRecord | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: { pk: `model#${model}`, sk: `recal#${version}` }, ConsistentRead: true }));
    if (!Item) return undefined;
    return { version, factor: Number(Item.factor), updates: Number(Item.updates), misses: Number(Item.misses), updated: String(Item.updated), revision: Number(Item.revision) };
  }

  putRecalibration(model: string, record: RecalibrationRecord, expectedRevision: number): Promise<boolean> {
    return this.putRevised({ pk: `model#${model}`, sk: `recal#${record.version}`, ...record }, expectedRevision);
  }

  async getServedCursor(model: string): Promise<ServedCursor | undefined> {
    const { Item } = await this.db.send(new GetCommand({ TableName: this.tableName, Key: { pk: `model#${model}`, sk: 'served' }, ConsistentRead: true }));
    if (!Item || typeof Item.readTo !== 'string' || !Array.isArray(Item.pairs)) return undefined;
    return { readTo: Item.readTo, pairs: Item.pairs as ServedCursor['pairs'], revision: Number(Item.revision) };
  }

  putServedCursor(model: string, cursor: ServedCursor, expectedRevision: number): Promise<boolean> {
    return this.putRevised({ pk: `model#${model}`, sk: 'served', ...cursor }, expectedRevision);
  }

  /** Puts `item` only over the revision the caller read (0: only if absent); false when another write won. */
  private async putRevised(item: Record<string, unknown>, expectedRevision: number): Promise<boolean> {
    try {
      await this.db.send(
        new PutCommand({
          TableName: this.tableName,
          Item: item,
          ConditionExpression: expectedRevision === 0 ? 'attribute_not_exists(pk)' : '#revision = :r',
          ...(expectedRevision === 0 ? {} : { ExpressionAttributeNames: { '#revision': 'revision' }, ExpressionAttributeValues: { ':r': expectedRevision } }),
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}
