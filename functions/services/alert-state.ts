import { DynamoDbAlertStateStore } from '../adapters/dynamodb-alert-state-store.js';
import type { Services } from '../services.js';
import { dynamoDb } from './clients.js';

// Alert cooldown state and event history: written by serving (./twin.ts), read by audit queries
// (./access.ts). Apart from ./twin.ts so that a function that serves no model does not carry the serving
// code (its model loading and ONNX readers).

/** How long alert events are kept (their TTL). */
export const alertEventRetentionDays = 30;

export function alertState(services: Services): DynamoDbAlertStateStore {
  return new DynamoDbAlertStateStore(services.get(dynamoDb), services.config.alertStateTable, { eventRetentionDays: alertEventRetentionDays, now: services.now });
}
