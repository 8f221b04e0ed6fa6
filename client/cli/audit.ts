/** `twin audit`: query, export and import the audit log. */
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { Command } from 'commander';
import { positiveInt, type CliContext } from './context.js';
import { table } from './format.js';
import { exportAudit, importAudit, parseSince } from '../edge.js';
import type { AuditQuery, AuditRecord } from '../sdk.js';

export function registerAudit(program: Command, ctx: CliContext): void {
  const { io, authed, out } = ctx;

  const audit = program
    .command('audit')
    .description('query the audit log (newest first); export/import edge records')
    .option('--since <when>', 'a duration back (30m, 1h, 7d) or an ISO time', '24h')
    .option('--until <when>', 'the end (same forms; default now)')
    .option('--principal <id>', 'a username or key:<id>')
    .option('--action <action>', 'e.g. twin.predict, keys.create')
    .option('--outcome <outcome>', 'success, failure or an HTTP status')
    .option('-n, --limit <n>', 'records per page', positiveInt('--limit', 200), 50)
    .option('--all', 'follow every page')
    .addHelpText('after', '\nExamples:\n  twin audit --since 1h --action twin.predict\n  twin audit --since 7d --outcome failure --all --json')
    .action(async (opts: { since: string; until?: string; principal?: string; action?: string; outcome?: string; limit: number; all?: boolean }, cmd: Command) => {
      const now = Date.now();
      const query: AuditQuery = {
        from: parseSince(opts.since, now).toISOString(),
        ...(opts.until ? { to: parseSince(opts.until, now).toISOString() } : {}),
        ...(opts.principal ? { principal: opts.principal } : {}),
        ...(opts.action ? { action: opts.action } : {}),
        ...(opts.outcome ? { outcome: opts.outcome } : {}),
        limit: opts.limit,
      };
      const client = await authed(cmd);
      const items: AuditRecord[] = [];
      let next: string | null = null;
      if (opts.all) {
        for await (const record of client.auditAll(query)) items.push(record);
      } else {
        const page = await client.audit(query);
        items.push(...page.items);
        next = page.next_cursor;
      }
      out(
        cmd,
        () =>
          table(
            ['time', 'principal', 'action', 'request', 'outcome', 'error', 'model'],
            items.map((r) => [r.time.replace('T', ' ').slice(0, 23), r.principal, r.action, `${r.method} ${r.resource}`, r.outcome, r.errorCode, r.modelVersion]),
          ) + (next ? `(more: --all, or narrow --since)\n` : ''),
        { items, next_cursor: next },
      );
    });
  audit
    .command('export')
    .description('write audit records and alerts of a time range as JSON lines (edge → cloud)')
    .option('--since <when>', 'a duration back (30m, 1h, 7d) or an ISO time', '24h')
    .option('--until <when>', 'the end (default now)')
    .requiredOption('-o, --out <file>', 'the export file (- for stdout)')
    .action(async (opts: { since: string; until?: string; out: string }, cmd: Command) => {
      const client = await authed(cmd);
      const res = await exportAudit({
        url: client.baseUrl,
        token: client.token!.token,
        since: opts.since,
        ...(opts.until ? { until: opts.until } : {}),
        out: opts.out === '-' ? new Writable({ write: (chunk: Buffer, _encoding, done) => (io.stdout(chunk.toString('utf8')), done()) }) : resolve(io.cwd, opts.out),
      });
      if (opts.out !== '-') out(cmd, () => `Exported ${res.audit} audit records and ${res.alerts} alerts (${res.from} .. ${res.to}) -> ${opts.out}\n`, res);
    });
  audit
    .command('import')
    .description('import an export file (idempotent: running it twice stores nothing twice)')
    .argument('<file>')
    .option('--to <url>', 'the Twinserve to import into (default: --url / the profile)')
    .option('--edge <id>', 'the edge box the file came from, kept in each record\'s import mark (default: unnamed)')
    .action(async (file: string, opts: { to?: string; edge?: string }, cmd: Command) => {
      const client = await authed(cmd);
      const res = await importAudit({ url: opts.to ?? client.baseUrl, token: client.token!.token, file: resolve(io.cwd, file), ...(opts.edge ? { edge: opts.edge } : {}) });
      out(
        cmd,
        () =>
          `Imported ${res.lines} records in ${res.requests} requests: audit ${res.audit.stored} stored, ${res.audit.duplicate} already there` +
          `${res.audit.expired ? `, ${res.audit.expired} past the deployment's retention (not kept)` : ''}; alerts ${res.alerts.stored} stored, ${res.alerts.duplicate} already there` +
          `${res.alerts.expired ? `, ${res.alerts.expired} past retention (not kept)` : ''}\n`,
        res,
      );
    });
}
