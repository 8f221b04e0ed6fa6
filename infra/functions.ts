import type { FunctionName } from './routes.js';
import type { TableDef } from './tables.js';

/**
 * What each Lambda function needs, as data: the CDK stacks derive its IAM grants, environment and layer
 * from this, so least privilege is decided here, next to the route table, not in stack code.
 */
export interface FunctionDef {
  name: FunctionName;
  description: string;
  /** Carries the onnxruntime layer (only functions that load models). */
  inference: boolean;
  /** DynamoDB tables (by TableDef id) and the access each needs. */
  tables: Partial<Record<TableDef['id'], 'read' | 'write' | 'readwrite'>>;
  /** The model bucket: read packages and routing, or also publish them. */
  modelBucket?: 'read' | 'readwrite';
  /** The token signing key in KMS: `sign` also implies reading the public keys. */
  signingKey?: 'sign' | 'public';
  /** Publishes to the anomaly-alert SNS topic. */
  alerts?: boolean;
  /** @default 512 */
  memoryMb?: number;
}

export const functionDefs: Record<FunctionName, FunctionDef> = {
  docs: {
    name: 'docs',
    description: 'The OpenAPI document and the API reference page (public)',
    inference: false,
    // No data: it only audits its calls.
    tables: { AuditLog: 'write', RateCounters: 'readwrite' },
  },
  inference: {
    name: 'inference',
    description: 'Open Inference Protocol (KServe V2): health, metadata, readiness, inference',
    inference: true,
    tables: { Stats: 'readwrite', RateCounters: 'readwrite', AuditLog: 'write', AlertState: 'readwrite', Predictions: 'write', Quality: 'read' },
    modelBucket: 'read',
    alerts: true,
    memoryMb: 1024,
  },
  'public-info': {
    name: 'public-info',
    description: 'Health and the issuer discovery documents (public)',
    inference: true,
    tables: { AuditLog: 'write' },
    modelBucket: 'read',
    signingKey: 'public',
  },
  auth: {
    name: 'auth',
    description: 'Password login and the OAuth2 token endpoint',
    inference: false,
    // Reads users and keys, stamps a key's last use, takes login throttle counters.
    tables: { Users: 'read', ApiKeys: 'readwrite', RateCounters: 'readwrite', AuditLog: 'write' },
    signingKey: 'sign',
    // scrypt (N=2^15, r=8) needs 32 MiB per hash and CPU; more memory is more CPU in Lambda.
    memoryMb: 1024,
  },
  predict: {
    name: 'predict',
    description: 'Single predictions with their interval',
    inference: true,
    // Keeps each served row for feedback; reads the interval's recalibration factor.
    tables: { Stats: 'readwrite', RateCounters: 'readwrite', AuditLog: 'write', AlertState: 'readwrite', Predictions: 'write', Quality: 'read' },
    modelBucket: 'read',
    alerts: true,
    memoryMb: 1024,
  },
  batch: {
    name: 'batch',
    description: 'Batch predictions (up to 100 rows in one inference run)',
    inference: true,
    tables: { Stats: 'readwrite', RateCounters: 'readwrite', AuditLog: 'write', AlertState: 'readwrite', Predictions: 'write', Quality: 'read' },
    modelBucket: 'read',
    alerts: true,
    memoryMb: 1024,
  },
  status: {
    name: 'status',
    description: 'Status, model info and metrics',
    inference: true,
    // Quality: model info tells a calibration added after publishing.
    tables: { Stats: 'read', RateCounters: 'readwrite', AuditLog: 'write', Quality: 'read' },
    modelBucket: 'read',
  },
  keys: {
    name: 'keys',
    description: 'API-key management: create, list, revoke, rotate',
    inference: false,
    tables: { Users: 'read', ApiKeys: 'readwrite', RateCounters: 'readwrite', AuditLog: 'write' },
  },
  users: {
    name: 'users',
    description: 'Users and roles',
    inference: false,
    tables: { Users: 'readwrite', RateCounters: 'readwrite', AuditLog: 'write' },
    memoryMb: 1024,
  },
  audit: {
    name: 'audit',
    description: 'Audit log queries',
    inference: false,
    // Import also stores alert events exported from edge twins.
    tables: { RateCounters: 'readwrite', AuditLog: 'readwrite', AlertState: 'write' },
  },
  models: {
    name: 'models',
    description: 'Model lifecycle: list, publish, activate, rollback, A/B routing, stats, alert history',
    // Publishing loads the package once before accepting it.
    inference: true,
    tables: { Stats: 'read', AlertState: 'read', RateCounters: 'readwrite', AuditLog: 'write' },
    modelBucket: 'readwrite',
    memoryMb: 1024,
  },
  quality: {
    name: 'quality',
    description: 'Model quality: feedback (measured values), error and coverage, A/B verdict, recalibration, drift',
    // Loads manifests (levels, histograms) but runs no inference; publishes quality alerts.
    inference: true,
    tables: { Predictions: 'readwrite', Quality: 'readwrite', AlertState: 'readwrite', RateCounters: 'readwrite', AuditLog: 'write' },
    modelBucket: 'read',
    alerts: true,
  },
};
