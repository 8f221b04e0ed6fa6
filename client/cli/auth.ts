/** `twin login` and `twin logout`. */
import { Command } from 'commander';
import { updateProfile, type Profile } from './config.js';
import { CliError, exitCodes, type CliContext } from './context.js';

export function registerAuth(program: Command, ctx: CliContext): void {
  const { io, out, secret, profileOf, urlOf, newClient } = ctx;

  program
    .command('login')
    .description('log in with a password or an API key and store the token in the profile')
    .option('-u, --username <name>', 'the user (env TWIN_USERNAME)')
    .option('--password-stdin', 'read the password from stdin (else env TWIN_PASSWORD, else a prompt)')
    .option('--api-key-stdin', 'log in with an API key read from stdin (else env TWIN_API_KEY)')
    .addHelpText('after', '\nExamples:\n  twin login -u admin\n  echo "$KEY" | twin login --api-key-stdin --url https://twin.example.com')
    .action(async (opts: { username?: string; passwordStdin?: boolean; apiKeyStdin?: boolean }, cmd: Command) => {
      const { path, name, profile } = await profileOf(cmd);
      const url = urlOf(cmd, profile);
      const client = newClient(cmd, url);
      let principal: string;
      if (opts.apiKeyStdin || (!opts.username && !io.env.TWIN_USERNAME && io.env.TWIN_API_KEY)) {
        const key = opts.apiKeyStdin ? await secret('API key', { stdin: true }) : io.env.TWIN_API_KEY!;
        await client.loginWithApiKey(key, { remember: false });
        principal = `key:${/^tw_([a-z0-9]+)_/.exec(key)?.[1] ?? '?'}`;
      } else {
        const username = opts.username ?? io.env.TWIN_USERNAME;
        if (!username) throw new CliError('give --username (or --api-key-stdin)', exitCodes.usage);
        const password = await secret('Password', { stdin: opts.passwordStdin ?? false, env: 'TWIN_PASSWORD' });
        await client.login(username, password, { remember: false });
        principal = username;
      }
      const token = client.token!;
      const saved: Profile = { url, token: token.token, expires_at: new Date(token.expiresAt!).toISOString(), principal, ...(token.scope ? { scope: token.scope } : {}) };
      await updateProfile(path, name, () => saved);
      out(
        cmd,
        () => `Logged in to ${url} as ${principal} (profile ${name}); token valid until ${saved.expires_at}\nScopes: ${saved.scope ?? ''}\nSaved in ${path}\n`,
        { profile: name, url, principal, expires_at: saved.expires_at, scope: saved.scope, config: path },
      );
    });

  program
    .command('logout')
    .description('forget the token of the profile')
    .action(async (_opts: unknown, cmd: Command) => {
      const { path, name, profile } = await profileOf(cmd);
      if (profile) await updateProfile(path, name, (p) => (p ? { url: p.url } : undefined));
      out(cmd, () => `Logged out (profile ${name})\n`, { profile: name, logged_out: true });
    });
}
