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
  'public-info': {
    name: 'public-info',
    description: 'Health and the issuer discovery documents (public)',
    inference: true,
    tables: {},
    modelBucket: 'read',
    signingKey: 'public',
  },
  auth: {
    name: 'auth',
    description: 'Password login and the OAuth2 token endpoint',
    inference: false,
    tables: { Users: 'read' },
    signingKey: 'sign',
    // scrypt (N=2^15, r=8) needs 32 MiB per hash and CPU; more memory is more CPU in Lambda.
    memoryMb: 1024,
  },
  predict: {
    name: 'predict',
    description: 'Single predictions with their interval',
    inference: true,
    tables: { Stats: 'readwrite' },
    modelBucket: 'read',
    alerts: true,
    memoryMb: 1024,
  },
  batch: {
    name: 'batch',
    description: 'Batch predictions (up to 100 rows in one inference run)',
    inference: true,
    tables: { Stats: 'readwrite' },
    modelBucket: 'read',
    alerts: true,
    memoryMb: 1024,
  },
  status: {
    name: 'status',
    description: 'Status, model info and metrics',
    inference: true,
    tables: { Stats: 'read' },
    modelBucket: 'read',
  },
};
