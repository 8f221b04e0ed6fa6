import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { copyPlantEventsOnce } from '../../functions/adapters/dynamodb-alert-state-store.js';

/**
 * Copies the alert events stored before each plant had its own history partition into it, so a plant's
 * GET /api/v1/alerts shows them (docs/security.md, "Stats and alerts per plant"; run once after the deploy):
 *
 *   npx tsx infra/tools/backfill-alert-history.ts --table <AlertStateTableName> --region <region>
 *
 * Uses the AWS CLI's credentials (default provider chain); needs dynamodb:Scan, GetItem and PutItem on the
 * table. Idempotent: once done it writes a marker item, and a second run changes nothing.
 */
const { values } = parseArgs({ options: { table: { type: 'string' }, region: { type: 'string' } } });
if (!values.table || !values.region) {
  console.error('usage: npx tsx infra/tools/backfill-alert-history.ts --table <AlertStateTableName> --region <region>');
  process.exit(2);
}
const dynamo = new DynamoDBClient({ region: values.region });
try {
  const done = await copyPlantEventsOnce(DynamoDBDocumentClient.from(dynamo), values.table);
  console.log(done ? `${values.table}: ${done.scanned} items read, ${done.copied} events copied to their plant's history` : `${values.table}: already done (marker item present)`);
} finally {
  dynamo.destroy();
}
