/**
 * Edge sync: moving model packages to an edge twin, and the edge's audit records and alerts back to a cloud
 * deployment. Plain functions over `fetch`; no argument parsing, no printing, no process exit.
 *
 * Wiring: the `twin` CLI (client/cli.ts, written separately) maps its commands onto these; suggested:
 *   `twin models pull <name> <version> --from <url>`  -> {@link pullModel}
 *   `twin audit export --since <1h|30m|7d|ISO> [--until] --out <file>` -> {@link parseSince} + {@link exportAudit}
 *   `twin audit import <file> --to <url>`             -> {@link importAudit}
 *   `twin edge --model <dir|.tgz> [--host --tls-cert --tls-key --allow-insecure-http]`
 *                                                    -> the same as `npm start -- --edge ...` (infra/local/start.ts)
 * Failures throw {@link EdgeSyncError}; its `code` says which kind (for exit codes and messages).
 *
 * The export file's format: client/edge/audit-export.ts. One module per command: client/edge/models-pull.ts,
 * client/edge/audit-export.ts, client/edge/audit-import.ts, and what they share in client/edge/connection.ts.
 */
export { EdgeSyncError, type EdgeSyncErrorCode, type FetchLike } from './edge/connection.js';
export { pullModel, type PullModelOptions, type PullModelResult } from './edge/models-pull.js';
export { auditWindows, exportAudit, maxAuditWindowMs, parseSince, type ExportAuditOptions, type ExportAuditResult } from './edge/audit-export.js';
export { importAudit, maxImportChunk, type ImportAuditOptions, type ImportAuditResult } from './edge/audit-import.js';
