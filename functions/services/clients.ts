import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { BatchWriter } from '../adapters/batch-put.js';
import { PowertoolsTelemetry } from '../adapters/powertools-telemetry.js';
import type { Telemetry } from '../core/ports.js';
import type { Services } from '../services.js';

// The AWS clients, one each per container. AWS_ENDPOINT_URL_DYNAMODB / _S3 / _SNS / _KMS are honoured by the
// SDK itself (the local twin sets them), so no code path differs locally. The SNS and KMS clients are built
// where they are used (./twin.ts, ./access.ts), so a function that never publishes or signs does not carry them.

export function dynamoDb(services: Services): DynamoDBDocumentClient {
  const retry = services.dynamoDbRetryStrategy;
  const client = new DynamoDBClient({ region: services.config.region, ...(retry ? { retryStrategy: retry } : {}) });
  services.onDispose(() => client.destroy());
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

export function s3(services: Services): S3Client {
  const client = new S3Client({ region: services.config.region, forcePathStyle: services.config.s3ForcePathStyle });
  services.onDispose(() => client.destroy());
  return client;
}

export function telemetry(): Telemetry {
  return new PowertoolsTelemetry();
}

/**
 * In a process serving many requests at once (`sharedBatchWrites`), one writer carries a request's audit
 * record and served rows in one BatchWriteItem; in Lambda none, and each store writes alone.
 */
export function sharedWriter(services: Services): BatchWriter | undefined {
  return services.config.sharedBatchWrites ? new BatchWriter(services.get(dynamoDb)) : undefined;
}
