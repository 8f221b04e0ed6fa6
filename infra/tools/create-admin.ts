import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbUserStore } from '../../functions/adapters/dynamodb-user-store.js';
import { hashPassword } from '../../functions/core/auth/passwords.js';
import { passwordSchema } from '../../functions/core/auth/users-service.js';

/**
 * Creates the first admin of a deployed environment, the way the local twin seeds its own (docs/deploy.md):
 *
 *   npx tsx infra/tools/create-admin.ts --table <UsersTableName output> --region <region> [--username admin]
 *
 * The password is TWIN_ADMIN_PASSWORD, or a generated one printed once. Uses the AWS CLI's credentials
 * (default provider chain); needs dynamodb:PutItem on the table. Never overwrites an existing user.
 */
const { values } = parseArgs({
  options: { table: { type: 'string' }, region: { type: 'string' }, username: { type: 'string', default: 'admin' } },
});
if (!values.table || !values.region) {
  console.error('usage: npx tsx infra/tools/create-admin.ts --table <UsersTableName> --region <region> [--username admin]');
  process.exit(2);
}

const given = process.env.TWIN_ADMIN_PASSWORD;
if (given !== undefined && !passwordSchema.safeParse(given).success) {
  console.error('TWIN_ADMIN_PASSWORD: must be 8 to 256 characters');
  process.exit(2);
}
const password = given ?? randomBytes(18).toString('base64url');

const dynamo = new DynamoDBClient({ region: values.region });
try {
  const users = new DynamoDbUserStore(DynamoDBDocumentClient.from(dynamo), values.table);
  const created = await users.create({
    username: values.username,
    passwordHash: await hashPassword(password),
    role: 'admin',
    active: true,
    created: new Date().toISOString(),
  });
  if (!created) {
    console.error(`${values.username} exists already in ${values.table}; nothing changed`);
    process.exitCode = 1;
  } else {
    console.log(`created ${values.username} (admin) in ${values.table}`);
    if (given === undefined) console.log(`password (shown once, keep it): ${password}`);
  }
} finally {
  dynamo.destroy();
}
