/**
 * `twin`: the Twinserve command line, on top of the SDK (client/sdk.ts) with commander.
 *
 *   twin login [--username admin | --api-key-stdin]     store a token in the profile (0600 config file)
 *   twin predict --temp 360 --pressure 6 --flow 100     one prediction (or temp=360 ..., or --data '{...}')
 *   twin batch rows.csv --out results.csv               any number of rows, chunked, with a progress bar
 *   twin status | keys ... | users ... | models ... | audit --since 1h | alerts tail --follow
 *
 * Human tables by default, `--json` for scripts; `--help` on every command; exit codes in {@link exitCodes}.
 * `run(argv, io)` does everything without touching `process` (the tests call it in-process).
 */
import { spawn } from 'node:child_process';
import { open, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { BatchFileError, runBatchFile, type OutputFormat } from './cli/batch-file.js';
import { ConfigError, configPath, readConfig, updateProfile, type Profile } from './cli/config.js';
import { fields, formatNumber, ProgressBar, table, type Cell } from './cli/format.js';
import { FeedbackFileError, registerFeedbackCommand } from './cli/feedback.js';
import { registerQualityCommand } from './cli/quality.js';
import { registerInsightCommands } from './cli/insight.js';
import { EdgeSyncError, exportAudit, importAudit, parseSince, pullModel } from './edge.js';
import { maxBatchRows, TwinApiError, TwinClient, type AlertEvent, type AuditQuery, type AuditRecord, type FeatureRow } from './sdk.js';

export const cliVersion = '0.1.0';

/** What the exit status means. */
export const exitCodes = {
  ok: 0,
  /** Something unexpected (a bug, an unreadable answer). */
  failure: 1,
  /** Bad usage: unknown command or option, a missing argument, an unreadable input file. */
  usage: 2,
  /** The batch ran, but some rows failed (they are in the output with their error). */
  partial: 3,
  /** Not logged in, the token expired or was refused (401), or not allowed (403). */
  auth: 4,
  /** The API refused the request: invalid input, conflict (400, 409, 413, 415, 422). */
  rejected: 5,
  /** No such resource (404). */
  notFound: 6,
  /** Rate limited, still after the retries (429). */
  rateLimited: 7,
  /** The API is unavailable: 5xx, no answer, timeout. */
  unavailable: 8,
} as const;

export interface CliIo {
  stdout(text: string): void;
  stderr(text: string): void;
  env: Record<string, string | undefined>;
  /** All of stdin (for --password-stdin, --api-key-stdin, --data -). */
  readStdin(): Promise<string>;
  /** Asks for a secret without echo; undefined when there is no terminal. */
  promptSecret?(prompt: string): Promise<string>;
  /** Progress bars only on a terminal. */
  stderrIsTTY: boolean;
  /** Ends --follow. */
  signal?: AbortSignal;
  cwd: string;
}

/** A failure with a message for the user and an exit code. */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
  }
}

const defaultUrl = 'http://127.0.0.1:3000';

/** A child in the foreground (`twin edge`): Ctrl-C is its to handle, the CLI waits for it. */
let foregroundChild = false;

interface GlobalOptions {
  url?: string;
  profile: string;
  json?: boolean;
  timeout: number;
}

function positiveInt(name: string, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`${name} must be an integer from 1 to ${max}`);
    return n;
  };
}

function exitCodeForApiError(error: TwinApiError): number {
  if (error.code === 'NOT_LOGGED_IN' || error.status === 401 || error.status === 403) return exitCodes.auth;
  if (error.status === 404) return exitCodes.notFound;
  if (error.status === 429) return exitCodes.rateLimited;
  if (error.status >= 500 || error.status === 0) return exitCodes.unavailable;
  if (error.status >= 400) return exitCodes.rejected;
  return exitCodes.failure;
}

/** Runs the CLI with `argv` (without node and the script); resolves to the exit code. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const state = { exitCode: exitCodes.ok as number };
  const program = buildProgram(io, state);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return state.exitCode;
  } catch (error) {
    return report(error, io, Boolean(program.opts().json));
  }
}

function report(error: unknown, io: CliIo, json: boolean): number {
  if (error instanceof CommanderError) {
    // commander has printed the help, the version or the usage error already.
    return error.exitCode === 0 ? exitCodes.ok : exitCodes.usage;
  }
  let code: number = exitCodes.failure;
  let message = error instanceof Error ? error.message : String(error);
  let extra: Record<string, unknown> = {};
  if (error instanceof CliError) code = error.exitCode;
  else if (error instanceof TwinApiError) {
    code = exitCodeForApiError(error);
    extra = { code: error.code, status: error.status, ...(error.requestId ? { requestId: error.requestId } : {}), ...(error.issues.length ? { issues: error.issues } : {}) };
    message = `${error.code}${error.status ? ` (${error.status})` : ''}: ${error.message}${error.requestId ? ` [request ${error.requestId}]` : ''}`;
    if (error.status === 401) message += '\n  run `twin login` (or set TWIN_TOKEN / TWIN_API_KEY)';
    for (const issue of error.issues) message += `\n  ${issue.field}: ${issue.message} (${issue.rule})`;
  } else if (error instanceof EdgeSyncError) {
    code = error.code === 'INVALID_ARGUMENT' ? exitCodes.usage : error.code === 'HTTP' && error.status ? (error.status === 401 || error.status === 403 ? exitCodes.auth : error.status === 404 ? exitCodes.notFound : error.status >= 500 ? exitCodes.unavailable : exitCodes.rejected) : error.code === 'HTTP' ? exitCodes.unavailable : exitCodes.rejected;
  } else if (error instanceof BatchFileError || error instanceof FeedbackFileError || error instanceof ConfigError || (error as Error)?.name === 'PackageModelError') {
    code = exitCodes.usage;
  } else if ((error as NodeJS.ErrnoException)?.code === 'ENOENT') {
    code = exitCodes.usage;
  }
  if (json) io.stderr(`${JSON.stringify({ error: message.split('\n')[0], exitCode: code, ...extra })}\n`);
  else io.stderr(`twin: ${message}\n`);
  return code;
}

function buildProgram(io: CliIo, state: { exitCode: number }): Command {
  const program = new Command('twin');
  program
    .description('Twinserve from the command line: predictions, batches, keys, users, models, audit, alerts.')
    .version(cliVersion, '-V, --version')
    .option('--url <url>', `the API's base URL (env TWIN_URL; default: the profile's, else ${defaultUrl})`)
    .option('-p, --profile <name>', 'config profile (env TWIN_PROFILE)', io.env.TWIN_PROFILE || 'default')
    .option('--json', 'machine-readable JSON on stdout')
    .option('--timeout <ms>', 'per-request timeout in ms', positiveInt('--timeout'), 30_000)
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.stdout(s), writeErr: (s) => io.stderr(s), outputError: (s, write) => write(s) })
    .showHelpAfterError('(add --help for usage)')
    .addHelpText(
      'after',
      `
Authentication: \`twin login\` stores a token in ${configPath(io.env)} (mode 0600), per profile.
Or set TWIN_TOKEN (a token) or TWIN_API_KEY (exchanged on each run).

Exit codes: 0 ok, 1 unexpected, 2 usage, 3 some batch rows failed, 4 not logged in / not allowed,
5 request refused (invalid input, conflict), 6 not found, 7 rate limited, 8 API unavailable.`,
    );

  const globals = (cmd: Command): GlobalOptions => cmd.optsWithGlobals() as GlobalOptions;
  const isJson = (cmd: Command) => Boolean(globals(cmd).json);
  const out = (cmd: Command, human: () => string, data: unknown) => io.stdout(isJson(cmd) ? `${JSON.stringify(data, null, 2)}\n` : human());
  const setExit = (code: number) => {
    state.exitCode = code;
  };

  const profileOf = async (cmd: Command): Promise<{ path: string; name: string; profile: Profile | undefined }> => {
    const path = configPath(io.env);
    const name = globals(cmd).profile;
    return { path, name, profile: (await readConfig(path)).profiles[name] };
  };
  const urlOf = (cmd: Command, profile: Profile | undefined) => (globals(cmd).url ?? io.env.TWIN_URL ?? profile?.url ?? defaultUrl).replace(/\/+$/, '');
  const newClient = (cmd: Command, url: string) =>
    new TwinClient({ baseUrl: url, timeoutMs: globals(cmd).timeout, headers: { 'user-agent': `twin-cli/${cliVersion}` } });

  /** A client with a token: TWIN_TOKEN, else TWIN_API_KEY (exchanged), else the profile's token. */
  const authed = async (cmd: Command): Promise<TwinClient> => {
    const { name, profile } = await profileOf(cmd);
    const client = newClient(cmd, urlOf(cmd, profile));
    if (io.env.TWIN_TOKEN) client.setToken(io.env.TWIN_TOKEN);
    else if (io.env.TWIN_API_KEY) await client.loginWithApiKey(io.env.TWIN_API_KEY);
    else if (profile?.token) {
      const expires = profile.expires_at ? Date.parse(profile.expires_at) : undefined;
      if (expires !== undefined && expires <= Date.now()) {
        throw new CliError(`the token of profile ${name} expired at ${profile.expires_at}: run \`twin login\``, exitCodes.auth);
      }
      client.setToken(profile.token, expires);
    } else {
      throw new CliError(`not logged in (profile ${name}): run \`twin login\`, or set TWIN_TOKEN or TWIN_API_KEY`, exitCodes.auth);
    }
    return client;
  };

  const secret = async (label: string, options: { stdin?: boolean; env?: string }): Promise<string> => {
    if (options.stdin) {
      const text = (await io.readStdin()).replace(/\r?\n$/, '');
      if (!text) throw new CliError(`${label}: nothing on stdin`, exitCodes.usage);
      return text;
    }
    const fromEnv = options.env ? io.env[options.env] : undefined;
    if (fromEnv) return fromEnv;
    if (io.promptSecret) return io.promptSecret(`${label}: `);
    throw new CliError(`${label} needed: use --${label.toLowerCase().replace(/ /g, '-')}-stdin${options.env ? ` or set ${options.env}` : ''}`, exitCodes.usage);
  };

  // ---------------------------------------------------------------------------------------------------------
  // login / logout

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

  registerInsightCommands(program, { authed, out, usageError: (message) => new CliError(message, exitCodes.usage) });

  // ---------------------------------------------------------------------------------------------------------
  // predict / batch / status

  program
    .command('predict')
    .description('one prediction with its 90 % interval')
    .argument('[features...]', 'feature values: --temp 360 --pressure 6, or temp=360 pressure=6')
    .option('-d, --data <json>', "the row as JSON, @file.json, or - for stdin: '{\"temp\":360,\"pressure\":6,\"flow\":100}'")
    .allowUnknownOption()
    .addHelpText('after', '\nThe features are the serving model\'s (`twin status` lists them).\nExamples:\n  twin predict --temp 360 --pressure 6 --flow 100\n  twin predict temp=360 pressure=6 flow=100 --json')
    .action(async (features: string[], opts: { data?: string }, cmd: Command) => {
      const row = await featureRow(features, opts.data, io);
      const client = await authed(cmd);
      const res = await client.predict(row);
      out(
        cmd,
        () =>
          fields([
            ['prediction', res.prediction],
            ['interval', res.confidence_interval ? `[${formatNumber(res.confidence_interval[0])}, ${formatNumber(res.confidence_interval[1])}]` : null],
            ['model', `${res.model.name}@${res.model.version}`],
            ['inference', `${formatNumber(res.inference_time_ms)} ms${res.from_cache ? ' (cached)' : ''}`],
            ...Object.entries(res.extrapolation).map(([f, flag]): [string, Cell] => [`warning ${f}`, flag.replace(/_/g, ' ')]),
          ]),
        res,
      );
    });

  program
    .command('batch')
    .description('predict every row of a CSV, JSON or JSON Lines file (any size), writing CSV or JSON results')
    .argument('<file>', 'rows: .csv with a header of feature names, .json (array or {inputs}), .jsonl/.ndjson')
    .option('-o, --out <file>', 'where the results go (default: stdout)')
    .addOption(new Option('-f, --format <format>', 'results format (default: from --out, else as the input)').choices(['csv', 'json']))
    .option('--chunk-size <n>', `rows per request (at most ${maxBatchRows})`, positiveInt('--chunk-size', maxBatchRows), maxBatchRows)
    .option('--concurrency <n>', 'requests in flight', positiveInt('--concurrency', 16), 2)
    .option('--progress', 'show a progress bar even when stderr is not a terminal')
    .option('--no-progress', 'no progress bar')
    .addHelpText('after', '\nFailed rows are kept in the output with their error; the exit code is then 3.\nExample:\n  twin batch readings.csv --out predictions.csv')
    .action(async (file: string, opts: { out?: string; format?: OutputFormat; chunkSize: number; concurrency: number; progress?: boolean }, cmd: Command) => {
      const client = await authed(cmd);
      const showProgress = opts.progress ?? io.stderrIsTTY;
      const bar = showProgress ? new ProgressBar((s) => io.stderr(s), 'batch') : undefined;
      const started = Date.now();
      const result = await runBatchFile({
        client,
        file: resolve(io.cwd, file),
        ...(opts.out ? { out: resolve(io.cwd, opts.out) } : {}),
        stdout: io.stdout,
        ...(opts.format ? { format: opts.format } : {}),
        chunkSize: opts.chunkSize,
        concurrency: opts.concurrency,
        onProgress: (p) => bar?.update(p.fraction, `${p.rows} rows, ${p.failed} failed`),
        ...(io.signal ? { signal: io.signal } : {}),
      });
      bar?.done(`${result.rows} rows, ${result.failed} failed`);
      const seconds = (Date.now() - started) / 1000;
      if (isJson(cmd) && opts.out) {
        io.stdout(`${JSON.stringify({ ...result, seconds }, null, 2)}\n`);
      } else {
        const lines = [`${result.rows} rows: ${result.successful} predicted, ${result.failed} failed (${result.requests} requests, ${formatNumber(seconds)} s)${opts.out ? ` -> ${opts.out}` : ''}`];
        for (const f of result.failures.slice(0, 10)) lines.push(`  row ${f.index}: ${f.error}`);
        if (result.failed > 10) lines.push(`  ... and ${result.failed - 10} more (see the error column)`);
        io.stderr(`${lines.join('\n')}\n`);
      }
      if (result.failed > 0) setExit(exitCodes.partial);
    });

  program
    .command('status')
    .description('service status, the serving model and request counts')
    .action(async (_opts: unknown, cmd: Command) => {
      const client = await authed(cmd);
      const [status, metrics] = await Promise.all([client.status(), client.metrics()]);
      const info = status.model_info;
      out(
        cmd,
        () =>
          fields([
            ['status', status.status],
            ['url', client.baseUrl],
            ['user', status.user],
            ['model', `${info.name}@${info.version} (${info.type}, trained ${info.trained_date})`],
            ['features', info.feature_specs.map((f) => `${f.name} [${f.min}, ${f.max}] ${f.unit}`).join(', ')],
            ['interval', info.interval ? JSON.stringify(info.interval) : null],
            ['requests', metrics.total_requests],
            ['predictions', metrics.total_predictions],
            ['cache hit rate', metrics.cache_hit_rate],
            ['uptime', `${formatNumber(metrics.uptime_seconds)} s`],
            ...(status.degraded ?? []).map((d): [string, Cell] => ['degraded', `${d.model}: serving ${d.serving} instead of ${d.wanted} (${d.reason})`]),
          ]),
        { status, metrics },
      );
    });

  // ---------------------------------------------------------------------------------------------------------
  // keys

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

  // ---------------------------------------------------------------------------------------------------------
  // users

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

  // ---------------------------------------------------------------------------------------------------------
  // models

  const models = program.command('models').description('model packages: package, publish, activate, rollback, A/B routing, stats');
  models
    .command('list')
    .description('models, their active version and routing')
    .action(async (_opts: unknown, cmd: Command) => {
      const res = await (await authed(cmd)).models.list();
      out(
        cmd,
        () =>
          table(
            ['model', 'active', 'routing', 'shadow', 'versions'],
            res.models.map((m) => [m.name, m.active, m.variants ? m.variants.map((v) => `${v.version}=${v.weight}`).join(' ') : 'all to active', m.shadow, m.versions.join(' ')]),
          ),
        res,
      );
    });
  models
    .command('versions')
    .description('the published versions of a model')
    .argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const res = await (await authed(cmd)).models.versions(name);
      out(
        cmd,
        () =>
          table(
            ['version', 'status', 'created', 'type', 'sha256'],
            res.versions.map((v) => (v.status === 'ok' ? [`${v.version}${v.version === res.active ? ' *' : ''}`, v.status, v.created, v.model_type, v.sha256.slice(0, 12)] : [v.version, v.status, null, null, v.reason])),
          ),
        res,
      );
    });
  models
    .command('package')
    .description('package an ONNX regressor trained elsewhere (manifest.json + model.onnx), checked locally')
    .requiredOption('--onnx <file>', 'the exported graph')
    .requiredOption('--spec <file>', 'JSON: name, version, modelType, target, features, alerts, ...')
    .requiredOption('--out <dir>', 'the package folder, ending in <name>/<version>')
    .option('--calibration <csv>', 'held-out rows: the conformal interval of a single-output model, and the envelope')
    .option('--created <date>', 'the manifest date (YYYY-MM-DD)')
    .option('--single', 'do not expand a tree ensemble (boosted trees)')
    .option('--force', 'overwrite an existing package folder')
    .addHelpText('after', '\nSee docs/model-package.md. Then: twin models publish <out dir>')
    .action(async (opts: { onnx: string; spec: string; out: string; calibration?: string; created?: string; single?: boolean; force?: boolean }, cmd: Command) => {
      // Loaded on use: it brings onnxruntime, which no other command needs.
      const { packageModel } = await import('../models/tools/package-model.js');
      const built = await packageModel({
        onnxPath: resolve(io.cwd, opts.onnx),
        specPath: resolve(io.cwd, opts.spec),
        outDir: resolve(io.cwd, opts.out),
        ...(opts.calibration ? { calibrationPath: resolve(io.cwd, opts.calibration) } : {}),
        ...(opts.created ? { created: opts.created } : {}),
        ...(opts.single ? { single: true } : {}),
        ...(opts.force ? { force: true } : {}),
      });
      out(
        cmd,
        () => `Packaged ${built.manifest.name}@${built.manifest.version} (${built.form}; sha256 ${built.manifest.sha256.slice(0, 12)})\n${built.files.map((f) => `  ${f}`).join('\n')}\n${built.notes.map((n) => `  note: ${n}\n`).join('')}`,
        { name: built.manifest.name, version: built.manifest.version, form: built.form, sha256: built.manifest.sha256, files: built.files, notes: built.notes, ...(built.calibration ? { calibration: built.calibration } : {}) },
      );
    });
  models
    .command('publish')
    .description('publish a package folder (manifest.json + model.onnx); versions are immutable')
    .argument('<dir>', 'the package folder')
    .action(async (dir: string, _opts: unknown, cmd: Command) => {
      const folder = resolve(io.cwd, dir);
      const manifest = JSON.parse(await readFile(join(folder, 'manifest.json'), 'utf8')) as Record<string, unknown>;
      const model = new Uint8Array(await readFile(join(folder, 'model.onnx')));
      if (typeof manifest.name !== 'string') throw new CliError(`${folder}/manifest.json has no name`, exitCodes.usage);
      const res = await (await authed(cmd)).models.publish(manifest.name, { manifest, model });
      out(cmd, () => `${res.published ? 'Published' : 'Already published (same package)'} ${res.name}@${res.version} (sha256 ${res.sha256.slice(0, 12)})\nActivate it: twin models activate ${res.name} ${res.version}\n`, res);
    });
  const routingText = (res: { name: string; routing: { active: string; variants?: { version: string; weight: number }[] | undefined; shadow?: string | undefined; history?: string[] | undefined } }) =>
    fields([
      ['model', res.name],
      ['active', res.routing.active],
      ['split', res.routing.variants ? res.routing.variants.map((v) => `${v.version}=${v.weight}`).join(' ') : 'all to active'],
      ['shadow', res.routing.shadow ?? null],
      ['history', res.routing.history?.join(' ') ?? null],
    ]);
  models
    .command('activate')
    .description('send all traffic to a version')
    .argument('<name>')
    .argument('<version>')
    .action(async (name: string, version: string, _opts: unknown, cmd: Command) => {
      const res = await (await authed(cmd)).models.activate(name, version);
      out(cmd, () => routingText(res), res);
    });
  models
    .command('rollback')
    .description('back to the previously active version')
    .argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const res = await (await authed(cmd)).models.rollback(name);
      out(cmd, () => routingText(res), res);
    });
  models
    .command('routing')
    .description('show, or set, the A/B split: --split 1.0.0=0.9,1.1.0=0.1')
    .argument('<name>')
    .option('--split <versions>', 'version=weight pairs, weights summing to 1')
    .addOption(new Option('--mode <mode>', 'how a request picks its variant').choices(['random', 'sticky']))
    .addOption(new Option('--sticky-by <key>', 'sticky per principal or per plant').choices(['principal', 'plant']))
    .option('--shadow <version>', 'a version that gets a copy of the traffic (none: no shadow)')
    .action(async (name: string, opts: { split?: string; mode?: 'random' | 'sticky'; stickyBy?: 'principal' | 'plant'; shadow?: string }, cmd: Command) => {
      const client = await authed(cmd);
      if (!opts.split) {
        if (opts.mode || opts.stickyBy || opts.shadow) throw new CliError('--mode, --sticky-by and --shadow go with --split', exitCodes.usage);
        const res = await client.models.versions(name);
        if (!res.routing) throw new CliError(`${name} has no routing`, exitCodes.notFound);
        out(cmd, () => routingText({ name, routing: res.routing! }), { name, routing: res.routing });
        return;
      }
      const variants = opts.split.split(',').map((pair) => {
        const [version, weight] = pair.split('=');
        const w = Number(weight);
        if (!version || weight === undefined || !Number.isFinite(w)) throw new CliError(`--split: ${pair} is not version=weight`, exitCodes.usage);
        return { version: version.trim(), weight: w };
      });
      const res = await client.models.routing(name, {
        variants,
        ...(opts.mode ? { mode: opts.mode } : {}),
        ...(opts.stickyBy ? { sticky_by: opts.stickyBy } : {}),
        ...(opts.shadow ? { shadow: opts.shadow === 'none' ? null : opts.shadow } : {}),
      });
      out(cmd, () => routingText(res), res);
    });
  models
    .command('stats')
    .description('per-variant requests, errors, latency, predictions, cache hits and alerts')
    .argument('<name>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const res = await (await authed(cmd)).models.stats(name);
      out(
        cmd,
        () =>
          table(
            ['version', 'role', 'weight', 'requests', 'errors', 'rows', 'mean ms', 'p95 ms', 'mean pred', 'cache', 'alerts'],
            res.variants.map((v) => [v.version, v.role, v.weight, v.requests, v.errors, v.rows, v.mean_latency_ms, v.p95_latency_ms, v.mean_prediction, v.cache_hit_rate, v.alerts]),
          ),
        res,
      );
    });
  models
    .command('pull')
    .description('download a published package to a local folder (for an edge box)')
    .argument('<name>')
    .argument('<version>')
    .option('--from <url>', 'the Twinserve to download from (default: --url / the profile)')
    .option('--out <dir>', 'where <name>/<version>/ goes', 'models')
    .action(async (name: string, version: string, opts: { from?: string; out: string }, cmd: Command) => {
      const client = await authed(cmd);
      const res = await pullModel({ from: opts.from ?? client.baseUrl, token: client.token!.token, name, version, outDir: resolve(io.cwd, opts.out) });
      out(cmd, () => `${res.written ? 'Pulled' : 'Already present'} ${name}@${version} -> ${res.dir} (${res.bytes} bytes, sha256 ${res.sha256.slice(0, 12)})\n`, { ...res, manifest: undefined });
    });

  // ---------------------------------------------------------------------------------------------------------
  // audit

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
      out(cmd, () => `Imported ${res.lines} records in ${res.requests} requests: audit ${res.audit.stored} stored, ${res.audit.duplicate} already there; alerts ${res.alerts.stored} stored, ${res.alerts.duplicate} already there\n`, res);
    });

  // ---------------------------------------------------------------------------------------------------------
  // alerts

  registerQualityCommand(models, { authed, out });
  registerFeedbackCommand(program, { cwd: io.cwd, authed, out, setPartial: () => setExit(exitCodes.partial) });

  const alerts = program.command('alerts').description('anomaly alerts');
  alerts
    .command('tail')
    .description('the latest alerts; --follow prints new ones as they come (the local SNS sink stream, else polling)')
    .option('--model <name>', 'whose alerts (default: the served model)')
    .option('-n, --lines <n>', 'how many of the latest to show', positiveInt('--lines', 200), 10)
    .option('-f, --follow', 'keep printing new alerts (Ctrl-C stops)')
    .option('--file <alerts.jsonl>', "read the local twin's SNS sink file (<data dir>/alerts.jsonl) instead of the API")
    .option('--interval <seconds>', 'polling interval with --follow where there is no stream', positiveInt('--interval', 3600), 5)
    .action(async (opts: { model?: string; lines: number; follow?: boolean; file?: string; interval: number }, cmd: Command) => {
      const json = isJson(cmd);
      const print = (event: AlertEvent | Record<string, unknown>) => io.stdout(json ? `${JSON.stringify(event)}\n` : alertLine(event));
      if (opts.file) {
        await tailFile(resolve(io.cwd, opts.file), opts.lines, opts.follow ?? false, (m) => print(alertOf(m)), io.signal);
        return;
      }
      const client = await authed(cmd);
      const recent = (await client.alerts({ ...(opts.model ? { model: opts.model } : {}), limit: opts.lines })).alerts;
      const seen = new Set<string>();
      for (const event of [...recent].reverse()) {
        seen.add(event.id);
        print(event);
      }
      if (!opts.follow) return;
      const streamed = await followStream(client, io, (m) => {
        const event = alertOf(m);
        if (opts.model && event.model !== opts.model) return;
        if (typeof event.id === 'string') {
          if (seen.has(event.id)) return;
          seen.add(event.id);
        }
        print(event);
      });
      if (streamed) return;
      // No stream (a cloud deployment): poll the history.
      while (!io.signal?.aborted) {
        await abortableSleep(opts.interval * 1000, io.signal);
        if (io.signal?.aborted) break;
        const page = (await client.alerts({ ...(opts.model ? { model: opts.model } : {}), limit: 50 })).alerts;
        for (const event of [...page].reverse()) {
          if (seen.has(event.id)) continue;
          seen.add(event.id);
          print(event);
        }
      }
    });

  // ---------------------------------------------------------------------------------------------------------
  // edge

  program
    .command('edge')
    .description('run an edge twin: serve a model package from local disk (same as npm start -- --edge)')
    .requiredOption('--model <dir|tgz>', 'the package folder or .tgz')
    .option('--host <address>', 'listen address (default 127.0.0.1; other than loopback needs TLS)')
    .option('--tls-cert <pem>', 'certificate for HTTPS')
    .option('--tls-key <pem>', 'key for HTTPS')
    .option('--allow-insecure-http', 'plain HTTP on a non-loopback address (not recommended)')
    .action(async (opts: { model: string; host?: string; tlsCert?: string; tlsKey?: string; allowInsecureHttp?: boolean }) => {
      const root = fileURLToPath(new URL('..', import.meta.url));
      const args = ['--import', 'tsx', join(root, 'infra', 'local', 'start.ts'), '--edge', '--model', resolve(io.cwd, opts.model)];
      if (opts.host) args.push('--host', opts.host);
      if (opts.tlsCert) args.push('--tls-cert', resolve(io.cwd, opts.tlsCert));
      if (opts.tlsKey) args.push('--tls-key', resolve(io.cwd, opts.tlsKey));
      if (opts.allowInsecureHttp) args.push('--allow-insecure-http');
      const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...io.env } as NodeJS.ProcessEnv });
      foregroundChild = true;
      const forward = (signal: NodeJS.Signals) => child.kill(signal);
      process.on('SIGINT', forward);
      process.on('SIGTERM', forward);
      const code = await new Promise<number>((done) => child.on('exit', (c) => done(c ?? 1)));
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      foregroundChild = false;
      setExit(code);
    });

  return program;
}

// ---------------------------------------------------------------------------------------------------------
// predict input

/** The row from `--temp 360 --pressure=6`, `flow=100` and/or `--data`. */
async function featureRow(args: string[], data: string | undefined, io: CliIo): Promise<FeatureRow> {
  const row: Record<string, number> = {};
  if (data !== undefined) {
    const text = data === '-' ? await io.readStdin() : data.startsWith('@') ? await readFile(resolve(io.cwd, data.slice(1)), 'utf8') : data;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new CliError('--data is not valid JSON', exitCodes.usage);
    }
    if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new CliError('--data must be a JSON object of feature values', exitCodes.usage);
    Object.assign(row, json);
  }
  const number = (name: string, value: string | undefined): number => {
    if (value === undefined || value === '') throw new CliError(`${name} needs a value`, exitCodes.usage);
    const n = Number(value);
    if (!Number.isFinite(n)) throw new CliError(`${name}=${value} is not a number`, exitCodes.usage);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const option = /^--([A-Za-z_][A-Za-z0-9_]*)(?:=(.*))?$/.exec(arg);
    const pair = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(arg);
    if (option) {
      const name = option[1]!;
      row[name] = number(name, option[2] ?? args[++i]);
    } else if (pair) {
      row[pair[1]!] = number(pair[1]!, pair[2]);
    } else {
      throw new CliError(`unexpected ${arg}: give features as --name value or name=value`, exitCodes.usage);
    }
  }
  if (Object.keys(row).length === 0) throw new CliError('give the features: twin predict --temp 360 --pressure 6 --flow 100 (see twin status)', exitCodes.usage);
  return row;
}

// ---------------------------------------------------------------------------------------------------------
// alerts

/** An alert event from the API, the SNS sink's message ({message: {type, ...event}}), or a line of alerts.jsonl. */
function alertOf(m: unknown): Record<string, unknown> {
  const record = (typeof m === 'object' && m !== null ? m : {}) as Record<string, unknown>;
  const inner = record.message;
  return typeof inner === 'object' && inner !== null ? (inner as Record<string, unknown>) : record;
}

function alertLine(event: Record<string, unknown>): string {
  const interval = Array.isArray(event.interval) ? ` [${(event.interval as number[]).map(formatNumber).join(', ')}]` : '';
  const prediction = typeof event.prediction === 'number' ? formatNumber(event.prediction) : '-';
  const thresholds = event.thresholds as { min?: number; max?: number } | undefined;
  return `${String(event.time ?? '').replace('T', ' ').slice(0, 19)}  ${String(event.kind === 'resolved' ? 'RESOLVED' : String(event.severity ?? '').toUpperCase()).padEnd(8)}  ${event.model}@${event.version}  ${event.rule}  prediction ${prediction}${interval}${thresholds ? ` (band ${thresholds.min}..${thresholds.max})` : ''}  ${event.principal ?? ''}${event.plant ? `/${event.plant}` : ''}\n`;
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((done) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      done();
    });
  });
}

/** The local twin's server-sent alert stream; false when the deployment has none (404). Returns when aborted. */
async function followStream(client: TwinClient, io: CliIo, onMessage: (m: unknown) => void): Promise<boolean> {
  const token = client.token?.token;
  const controller = new AbortController();
  io.signal?.addEventListener('abort', () => controller.abort());
  let response: Response;
  try {
    response = await fetch(`${client.baseUrl}/api/v1/alerts/stream?replay=0`, {
      headers: { accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      signal: controller.signal,
    });
  } catch (error) {
    if (io.signal?.aborted) return true;
    throw new TwinApiError('NETWORK_ERROR', `alert stream: ${(error as Error).message}`, 0, undefined);
  }
  if (response.status === 404) return false;
  if (!response.ok || !response.body) throw new TwinApiError(response.status === 401 ? 'UNAUTHORIZED' : 'HTTP_ERROR', `alert stream answered ${response.status}`, response.status, undefined);
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = frame
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart())
          .join('\n');
        if (data) onMessage(JSON.parse(data));
      }
    }
  } catch (error) {
    if (!controller.signal.aborted) throw error;
  }
  return true;
}

/** The last `count` lines of a JSON-lines file, then (with `follow`) the lines appended to it. */
async function tailFile(file: string, count: number, follow: boolean, onMessage: (m: unknown) => void, signal?: AbortSignal): Promise<void> {
  const parse = (line: string) => {
    try {
      onMessage(JSON.parse(line));
    } catch {
      // A line being written: skipped (a later read sees it whole).
    }
  };
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || !follow) throw new CliError(`cannot read ${file}`, exitCodes.usage);
    text = '';
  }
  let offset = Buffer.byteLength(text);
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  offset = Buffer.byteLength(complete);
  for (const line of complete.split('\n').filter(Boolean).slice(-count)) parse(line);
  let partial = '';
  while (follow && !signal?.aborted) {
    await abortableSleep(250, signal);
    const size = await stat(file).then((s) => s.size, () => 0);
    if (size <= offset) continue;
    const handle = await open(file, 'r');
    try {
      const buffer = Buffer.alloc(size - offset);
      await handle.read(buffer, 0, buffer.length, offset);
      offset = size;
      const chunk = partial + buffer.toString('utf8');
      const lines = chunk.split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines.filter(Boolean)) parse(line);
    } finally {
      await handle.close();
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// process wiring

/** The real process's IO: stdio, env, a no-echo prompt on a terminal, Ctrl-C ends --follow. */
export function processIo(): CliIo {
  const controller = new AbortController();
  process.once('SIGINT', () => {
    // Ends a --follow cleanly; anything else stops shortly after, as Ctrl-C should (`twin edge` waits for its twin).
    controller.abort();
    if (!foregroundChild) setTimeout(() => process.exit(130), 500).unref();
  });
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    ...(process.stdin.isTTY && process.stderr.isTTY ? { promptSecret } : {}),
    stderrIsTTY: Boolean(process.stderr.isTTY),
    signal: controller.signal,
    cwd: process.cwd(),
  };
}

async function promptSecret(prompt: string): Promise<string> {
  process.stderr.write(prompt);
  const stdin = process.stdin;
  stdin.setRawMode?.(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((done, fail) => {
    let value = '';
    const onData = (chunk: string) => {
      for (const c of chunk) {
        if (c === '\r' || c === '\n') {
          finish();
          done(value);
          return;
        }
        if (c === '\u0003') {
          finish();
          fail(new CliError('cancelled', exitCodes.usage));
          return;
        }
        if (c === '\u007f' || c === '\b') value = value.slice(0, -1);
        else value += c;
      }
    };
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}
