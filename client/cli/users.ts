/** `twin users …`: users and roles. */
import { Command, Option } from 'commander';
import { CliError, exitCodes, type CliContext } from './context.js';
import { table, type Cell } from './format.js';

export function registerUsers(program: Command, ctx: CliContext): void {
  const { authed, out, secret } = ctx;

  const users = program.command('users').description('users and roles (admin)');
  const userHeaders = ['username', 'role', 'plant', 'active', 'created'];
  const userRow = (u: { username: string; role: string; plant: string | null; active: boolean; created: string }): Cell[] => [u.username, u.role, u.plant, u.active, u.created.slice(0, 19)];
  users
    .command('create')
    .description('create a user')
    .argument('<username>', '3-64 lower-case letters, digits, . _ -')
    .addOption(new Option('-r, --role <role>', 'its role').choices(['admin', 'operator', 'viewer', 'auditor']).makeOptionMandatory())
    .option('--plant <plant>', 'its plant')
    .option('--password-stdin', 'read the new password from stdin (else env TWIN_NEW_PASSWORD, else a prompt)')
    .action(async (username: string, opts: { role: 'admin' | 'operator' | 'viewer' | 'auditor'; plant?: string; passwordStdin?: boolean }, cmd: Command) => {
      const client = await authed(cmd);
      const password = await secret('New password', { stdin: opts.passwordStdin ?? false, env: 'TWIN_NEW_PASSWORD' });
      const user = await client.users.create({ username, password, role: opts.role, ...(opts.plant ? { plant: opts.plant } : {}) });
      out(cmd, () => table(userHeaders, [userRow(user)]), user);
    });
  users
    .command('list')
    .description('users you may manage')
    .action(async (_opts: unknown, cmd: Command) => {
      const list = await (await authed(cmd)).users.list();
      out(cmd, () => table(userHeaders, list.map(userRow)), { users: list });
    });
  users
    .command('update')
    .description("change a user's role or deactivate it")
    .argument('<username>')
    .addOption(new Option('-r, --role <role>', 'new role').choices(['admin', 'operator', 'viewer', 'auditor']))
    .option('--active', 'reactivate')
    .option('--inactive', 'deactivate (its tokens stop at expiry, its keys at once)')
    .action(async (username: string, opts: { role?: 'admin' | 'operator' | 'viewer' | 'auditor'; active?: boolean; inactive?: boolean }, cmd: Command) => {
      if (opts.active && opts.inactive) throw new CliError('--active or --inactive, not both', exitCodes.usage);
      if (!opts.role && !opts.active && !opts.inactive) throw new CliError('give --role, --active or --inactive', exitCodes.usage);
      const user = await (await authed(cmd)).users.update(username, {
        ...(opts.role ? { role: opts.role } : {}),
        ...(opts.active ? { active: true } : {}),
        ...(opts.inactive ? { active: false } : {}),
      });
      out(cmd, () => table(userHeaders, [userRow(user)]), user);
    });
  users
    .command('password')
    .description("set a user's password (your own needs --current)")
    .argument('<username>')
    .option('--password-stdin', 'read the new password from stdin (else env TWIN_NEW_PASSWORD, else a prompt)')
    .option('--current', 'changing your own: ask for the current password (env TWIN_PASSWORD)')
    .action(async (username: string, opts: { passwordStdin?: boolean; current?: boolean }, cmd: Command) => {
      const client = await authed(cmd);
      const current = opts.current ? await secret('Current password', { env: 'TWIN_PASSWORD' }) : undefined;
      const password = await secret('New password', { stdin: opts.passwordStdin ?? false, env: 'TWIN_NEW_PASSWORD' });
      const res = await client.users.setPassword(username, password, current);
      out(cmd, () => `Password of ${res.username} updated\n`, res);
    });
}
