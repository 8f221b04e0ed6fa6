import { envNames } from '../functions/config.js';

/**
 * The DynamoDB tables, described once: the CDK data stack and the local twin both create them from this
 * list, and each names the environment variable through which functions learn the table's name.
 */
export interface TableDef {
  /** Stable logical id (CDK construct id, local table name suffix). */
  id: string;
  env: (typeof envNames)[keyof typeof envNames];
  partitionKey: string;
  sortKey?: string;
  ttlAttribute?: string;
  globalIndexes?: { name: string; partitionKey: string; sortKey?: string }[];
}

export const tables: readonly TableDef[] = [
  { id: 'Users', env: envNames.usersTable, partitionKey: 'username' },
  { id: 'Stats', env: envNames.statsTable, partitionKey: 'pk', sortKey: 'sk' },
];
