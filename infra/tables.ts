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
  /**
   * Global secondary indexes; `keysOnly` projects the table's and the index's keys only, `include` those and
   * these attributes (default: every attribute).
   */
  globalIndexes?: { name: string; partitionKey: string; sortKey?: string; keysOnly?: boolean; include?: string[] }[];
}

export const tables: readonly TableDef[] = [
  { id: 'Users', env: envNames.usersTable, partitionKey: 'username' },
  // API keys by key id (the public prefix of the key); the owner index lists a user's keys.
  {
    id: 'ApiKeys',
    env: envNames.apiKeysTable,
    partitionKey: 'keyId',
    globalIndexes: [{ name: 'byOwner', partitionKey: 'owner', sortKey: 'created' }],
  },
  // One counter item per principal and window, taken with one conditional ADD; expires by TTL.
  { id: 'RateCounters', env: envNames.rateCountersTable, partitionKey: 'pk', ttlAttribute: 'ttl' },
  // One record per request that reaches a function; newest-first per principal, or per day via the index.
  {
    id: 'AuditLog',
    env: envNames.auditTable,
    partitionKey: 'principal',
    sortKey: 'sk',
    ttlAttribute: 'ttl',
    globalIndexes: [{ name: 'byDay', partitionKey: 'day', sortKey: 'sk' }],
  },
  // Deployment-wide counters per model version (requests, errors, latency histogram, cache hits, alerts).
  { id: 'Stats', env: envNames.statsTable, partitionKey: 'pk', sortKey: 'sk' },
  // Alert cooldown state per (model, rule, principal), claimed conditionally; and the recent alert history.
  { id: 'AlertState', env: envNames.alertStateTable, partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'ttl' },
  // Served requests by request id, their rows inside, kept (TTL) so lab results can be joined to them; by model,
  // then plant, then time (keys, plant and version: 1 WRU per request whatever its rows) for feedback by inputs
  // and drift: a plant's read is one range of its own entries (docs/models.md, "Tenancy of the served rows").
  {
    id: 'Predictions',
    env: envNames.predictionsTable,
    partitionKey: 'id',
    ttlAttribute: 'ttl',
    globalIndexes: [{ name: 'byModelPlantTime', partitionKey: 'model', sortKey: 'psk', include: ['plant', 'version'] }],
  },
  // Error aggregates per model, hour, version and plant; the online-recalibration state per version.
  { id: 'Quality', env: envNames.qualityTable, partitionKey: 'pk', sortKey: 'sk' },
];

/**
 * The Predictions index before it was keyed by plant (model, then time): kept beside the new one by the
 * transition deploy only (`transitions.keepFormerPredictionsIndex`, docs/models.md "Tenancy of the served rows").
 */
export const formerPredictionsIndex = { name: 'byModelTime', partitionKey: 'model', sortKey: 'tsk', include: ['plant', 'version'] } as const;
