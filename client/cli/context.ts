/**
 * What every command group of the CLI shares: exit codes, the IO seam, errors, and the per-run context
 * (global options, output, the authenticated client). Each group lives in its own module (auth, predict,
 * keys, users, models, audit, alerts, edge) and registers itself on the program with `register(program, ctx)`.
 */
import { Command, InvalidArgumentError } from 'commander';
import { ConfigError, configPath, readConfig, type Profile } from './config.js';
import { TwinClient } from '../sdk.js';

export { ConfigError };

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

export const defaultUrl = 'http://127.0.0.1:3000';

/** A child in the foreground (`twin edge`): Ctrl-C is its to handle, the CLI waits for it. */
export const foreground = { child: false };

export interface GlobalOptions {
  url?: string;
  profile: string;
  json?: boolean;
  timeout: number;
}
export function positiveInt(name: string, max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new InvalidArgumentError(`${name} must be an integer from 1 to ${max}`);
    return n;
  };
}


/** The per-run context the command groups use. */
export interface CliContext {
  io: CliIo;
  globals(cmd: Command): GlobalOptions;
  isJson(cmd: Command): boolean;
  /** Human text, or the data as JSON with --json. */
  out(cmd: Command, human: () => string, data: unknown): void;
  setExit(code: number): void;
  profileOf(cmd: Command): Promise<{ path: string; name: string; profile: Profile | undefined }>;
  urlOf(cmd: Command, profile: Profile | undefined): string;
  newClient(cmd: Command, url: string): TwinClient;
  /** A client with a token: TWIN_TOKEN, else TWIN_API_KEY (exchanged), else the profile's token. */
  authed(cmd: Command): Promise<TwinClient>;
  /** A secret from stdin, an environment variable or a no-echo prompt. */
  secret(label: string, options: { stdin?: boolean; env?: string }): Promise<string>;
}

export function createContext(io: CliIo, state: { exitCode: number }): CliContext {
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
  return { io, globals, isJson, out, setExit, profileOf, urlOf, newClient, authed, secret };
}
