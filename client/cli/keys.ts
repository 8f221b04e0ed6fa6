/** `twin keys …`: API keys. */
import { Command } from 'commander';
import { positiveInt, type CliContext } from './context.js';
import { table, type Cell } from './format.js';

export function registerKeys(program: Command, ctx: CliContext): void {
  const { authed, out } = ctx;

  const keys = program.command('keys').description('API keys: create, list, revoke, rotate');
  const keyRow = (k: { id: string; name: string; owner: string; scopes: string[]; status: string; expires_at: string; last_used: string | null; rate_limit_per_minute: number | null }): Cell[] => [
    k.id,
    k.name,
    k.owner,
    k.scopes.join(' '),
    k.status,
    k.expires_at.slice(0, 10),
    k.last_used?.slice(0, 19) ?? null,
    k.rate_limit_per_minute,
  ];
  const keyHeaders = ['id', 'name', 'owner', 'scopes', 'status', 'expires', 'last used', 'limit/min'];
  keys
    .command('create')
    .description('create a key (the secret is shown once)')
    .requiredOption('-n, --name <name>', 'what the key is for')
    .option('-s, --scopes <scopes>', 'comma-separated scopes (default: all the owner may grant)')
    .option('--expires-in-days <days>', 'lifetime in days (1-365)', positiveInt('--expires-in-days', 365))
    .option('--rate-limit <perMinute>', 'requests per minute for this key', positiveInt('--rate-limit'))
    .option('--owner <username>', 'create it for another user of your plant (admin)')
    .action(async (opts: { name: string; scopes?: string; expiresInDays?: number; rateLimit?: number; owner?: string }, cmd: Command) => {
      const client = await authed(cmd);
      const key = await client.keys.create({
        name: opts.name,
        ...(opts.scopes ? { scopes: opts.scopes.split(/[,\s]+/).filter(Boolean) as never } : {}),
        ...(opts.expiresInDays ? { expires_in_days: opts.expiresInDays } : {}),
        ...(opts.rateLimit ? { rate_limit_per_minute: opts.rateLimit } : {}),
        ...(opts.owner ? { owner: opts.owner } : {}),
      });
      out(cmd, () => `${table(keyHeaders, [keyRow(key)])}\nKey (shown once, store it now):\n${key.key}\n`, key);
    });
  keys
    .command('list')
    .description('your keys (an admin: the plant’s, a platform admin: all)')
    .action(async (_opts: unknown, cmd: Command) => {
      const list = await (await authed(cmd)).keys.list();
      out(cmd, () => (list.length ? table(keyHeaders, list.map(keyRow)) : 'No API keys.\n'), { keys: list });
    });
  keys
    .command('revoke')
    .description('revoke a key now')
    .argument('<id>', 'the key id (from `twin keys list`)')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const key = await (await authed(cmd)).keys.revoke(id);
      out(cmd, () => `Revoked ${key.id} (${key.name})\n`, key);
    });
  keys
    .command('rotate')
    .description('a new secret; the old one stays valid for the grace period')
    .argument('<id>', 'the key id')
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const key = await (await authed(cmd)).keys.rotate(id);
      out(cmd, () => `Rotated ${key.id}; the previous secret is valid until ${key.previous_secret_valid_until ?? 'now'}\nNew key (shown once):\n${key.key}\n`, key);
    });
}
