import type { FunctionName } from '../functions/routes.js';
import type { TableDef } from './tables.js';

/**
 * What each Lambda function needs, as data: the CDK stacks derive its IAM grants, environment and layer
 * from this, so least privilege is decided here, in one table, not in stack code. What a function
 * serves (its routes, its description) is the functions' own: functions/routes.ts and
 * functions/function-descriptions.ts.
 */
/**
 * The DynamoDB actions the adapters use (functions/adapters/dynamodb-*.ts); none reads a stream or batches.
 * `Query` queries the table itself, `Query:<index>` one of its global secondary indexes (infra/tables.ts).
 */
export type TableAction = 'GetItem' | 'PutItem' | 'UpdateItem' | 'DeleteItem' | 'BatchGetItem' | 'BatchWriteItem' | 'Scan' | 'Query' | `Query:${string}`;

export interface FunctionDef {
  name: FunctionName;
  /** Carries the onnxruntime layer (only functions that load models). */
  inference: boolean;
  /**
   * DynamoDB tables (by TableDef id) and the exact actions the function's code sends to each.
   * test/infra/bundles.test.ts records the commands each function really sends
   * and fails on a missing or an unused action.
   */
  tables: Partial<Record<TableDef['id'], readonly TableAction[]>>;
  /** The model bucket: read packages and routing, or also publish them. */
  modelBucket?: 'read' | 'readwrite';
  /** The token signing keys in KMS: `sign` with the active key, or read the `public` keys of all published ones. */
  signingKey?: 'sign' | 'public';
  /** Publishes to the anomaly-alert SNS topic. */
  alerts?: boolean;
  /** @default 512 */
  memoryMb?: number;
}

/**
 * Alert cooldown state: claim (conditional update), release after a failed SNS publish (update or delete, so
 * the next breach retries), resolve, and the event history (put).
 */
const alertWrites: readonly TableAction[] = ['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem'];

/**
 * Every authenticated request re-reads its principal's current state (functions/core/auth/principal-state.ts):
 * the user, and for an API-key token the key. (users and keys refuse key tokens before any read.)
 */
const principalState = { Users: ['GetItem'], ApiKeys: ['GetItem'] } as const satisfies FunctionDef['tables'];

export const functionDefs: Record<FunctionName, FunctionDef> = {
  docs: {
    name: 'docs',
    inference: false,
    // No data, and public routes take no rate limit: it only audits its calls.
    tables: { AuditLog: ['PutItem'] },
  },
  inference: {
    name: 'inference',
    inference: true,
    tables: { ...principalState, Stats: ['UpdateItem'], RateCounters: ['UpdateItem'], AuditLog: ['PutItem'], AlertState: alertWrites, Predictions: ['PutItem'], Quality: ['GetItem'] },
    modelBucket: 'read',
    alerts: true,
    memoryMb: 1024,
  },
  insight: {
    name: 'insight',
    inference: true,
    // Hypothetical rows: no stats, no alerts; charges its rows to the caller's rate limit.
    tables: { ...principalState, RateCounters: ['UpdateItem'], AuditLog: ['PutItem'] },
    modelBucket: 'read',
    memoryMb: 1024,
  },
  'public-info': {
    name: 'public-info',
    inference: true,
    tables: { AuditLog: ['PutItem'] },
    modelBucket: 'read',
  },
  discovery: {
    name: 'discovery',
    inference: false,
    tables: { AuditLog: ['PutItem'] },
    signingKey: 'public',
  },
  auth: {
    name: 'auth',
    inference: false,
    // Reads users and keys, stamps a key's last use, takes login throttle counters.
    tables: { Users: ['GetItem'], ApiKeys: ['GetItem', 'UpdateItem'], RateCounters: ['UpdateItem'], AuditLog: ['PutItem'] },
    signingKey: 'sign',
    // scrypt (N=2^15, r=8) needs 32 MiB per hash and CPU; more memory is more CPU in Lambda.
    memoryMb: 1024,
  },
  predict: {
    name: 'predict',
    inference: true,
    // Keeps each served row for feedback; reads the interval's recalibration factor.
    tables: { ...principalState, Stats: ['UpdateItem'], RateCounters: ['UpdateItem'], AuditLog: ['PutItem'], AlertState: alertWrites, Predictions: ['PutItem'], Quality: ['GetItem'] },
    modelBucket: 'read',
    alerts: true,
    memoryMb: 1024,
  },
  batch: {
    name: 'batch',
    inference: true,
    tables: { ...principalState, Stats: ['UpdateItem'], RateCounters: ['UpdateItem'], AuditLog: ['PutItem'], AlertState: alertWrites, Predictions: ['PutItem'], Quality: ['GetItem'] },
    modelBucket: 'read',
    alerts: true,
    memoryMb: 1024,
  },
  status: {
    name: 'status',
    inference: true,
    // Quality: model info tells a calibration added after publishing.
    tables: { ...principalState, Stats: ['Query'], RateCounters: ['UpdateItem'], AuditLog: ['PutItem'], Quality: ['GetItem'] },
    modelBucket: 'read',
  },
  keys: {
    name: 'keys',
    inference: false,
    tables: { Users: ['GetItem'], ApiKeys: ['GetItem', 'PutItem', 'UpdateItem', 'Scan', 'Query:byOwner'], RateCounters: ['UpdateItem'], AuditLog: ['PutItem'] },
  },
  users: {
    name: 'users',
    inference: false,
    tables: { Users: ['GetItem', 'PutItem', 'UpdateItem', 'Scan'], RateCounters: ['UpdateItem'], AuditLog: ['PutItem'] },
    memoryMb: 1024,
  },
  audit: {
    name: 'audit',
    inference: false,
    // Import also stores alert events exported from edge twins (a duplicate reads the one stored first, for its plant's copy).
    tables: { ...principalState, RateCounters: ['UpdateItem'], AuditLog: ['PutItem', 'Query', 'Query:byDay'], AlertState: ['GetItem', 'PutItem'] },
    // Import reads the owner of each alert's model (a plant's model has only its plant's alerts).
    modelBucket: 'read',
  },
  models: {
    name: 'models',
    // Publishing loads the package once before accepting it.
    inference: true,
    tables: { ...principalState, Stats: ['Query'], AlertState: ['Query'], RateCounters: ['UpdateItem'], AuditLog: ['PutItem'] },
    modelBucket: 'readwrite',
    memoryMb: 1024,
  },
  quality: {
    name: 'quality',
    // Loads manifests (levels, histograms) but runs no inference; publishes quality alerts.
    inference: true,
    tables: {
      ...principalState,
      Predictions: ['BatchGetItem', 'UpdateItem', 'Query:byModelPlantTime'],
      Quality: ['GetItem', 'PutItem', 'UpdateItem', 'Query'],
      // Quality alerts claim, release, resolve and check firing (functions/core/quality/alerts.ts); they keep no event history (no PutItem).
      AlertState: ['GetItem', 'UpdateItem', 'DeleteItem'],
      RateCounters: ['UpdateItem'],
      AuditLog: ['PutItem'],
    },
    modelBucket: 'read',
    alerts: true,
  },
  'quality-schedule': {
    name: 'quality-schedule',
    // Loads manifests (levels, histograms), runs no inference. Reads served rows by model and time, the
    // aggregates and added calibrations; writes only its cursor of who was served and the alert claims. No
    // principal, so no users, keys, rate counters or audit records.
    inference: true,
    tables: {
      // The by-time index holds keys only: the items are fetched in batches (functions/adapters/dynamodb-prediction-log.ts).
      Predictions: ['BatchGetItem', 'Query:byModelPlantTime'],
      // PutItem: the served-pairs cursor (`sk = served`, revision-checked), so a run reads the index since the last one only.
      Quality: ['GetItem', 'PutItem', 'Query'],
      // Alert claims; and the alert cap's summaries: Query the windows owed one, take each (DeleteItem), read its counts.
      AlertState: ['GetItem', 'UpdateItem', 'DeleteItem', 'Query'],
    },
    modelBucket: 'read',
    alerts: true,
  },
};
