import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { backfillPlantSortKeys } from '../../functions/adapters/dynamodb-prediction-log.js';

/**
 * Puts the served requests stored before the Predictions index was keyed by plant into the new index
 * (docs/models.md, "Tenancy of the served rows"; run between the transition deploy and the next):
 *
 *   npx tsx infra/tools/backfill-predictions-index.ts --table <PredictionsTableName output> --region <region>
 *
 * Uses the AWS CLI's credentials (default provider chain); needs dynamodb:Scan and dynamodb:UpdateItem on the
 * table. Idempotent: a second run changes nothing.
 */
const { values } = parseArgs({ options: { table: { type: 'string' }, region: { type: 'string' } } });
if (!values.table || !values.region) {
  console.error('usage: npx tsx infra/tools/backfill-predictions-index.ts --table <PredictionsTableName> --region <region>');
  process.exit(2);
}
const dynamo = new DynamoDBClient({ region: values.region });
try {
  const { scanned, updated } = await backfillPlantSortKeys(DynamoDBDocumentClient.from(dynamo), values.table);
  console.log(`${values.table}: ${scanned} items read, ${updated} given their plant index key`);
} finally {
  dynamo.destroy();
}
