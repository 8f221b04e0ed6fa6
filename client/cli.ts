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
import { Command, CommanderError } from 'commander';
import { registerAlerts } from './cli/alerts.js';
import { registerAudit } from './cli/audit.js';
import { registerAuth } from './cli/auth.js';
import { BatchFileError } from './cli/batch-file.js';
import { ConfigError, configPath } from './cli/config.js';
import { cliVersion, CliError, createContext, defaultUrl, exitCodes, positiveInt, type CliIo } from './cli/context.js';
import { registerEdge } from './cli/edge.js';
import { registerInsightCommands } from './cli/insight.js';
import { FeedbackFileError, registerFeedbackCommand } from './cli/feedback.js';
import { registerQualityCommand } from './cli/quality.js';
import { registerKeys } from './cli/keys.js';
import { registerModels } from './cli/models.js';
import { registerPredict } from './cli/predict.js';
import { registerUsers } from './cli/users.js';
import { EdgeSyncError } from './edge.js';
import { TwinApiError } from './sdk.js';

export { cliVersion, CliError, exitCodes, type CliIo } from './cli/context.js';
export { processIo } from './cli/process-io.js';

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


  const ctx = createContext(io, state);
  registerAuth(program, ctx);
  registerPredict(program, ctx);
  registerInsightCommands(program, { authed: ctx.authed, out: ctx.out, usageError: (message) => new CliError(message, exitCodes.usage) });
  registerKeys(program, ctx);
  registerUsers(program, ctx);
  registerModels(program, ctx);
  registerQualityCommand(program.commands.find((c) => c.name() === 'models')!, { authed: ctx.authed, out: ctx.out });
  registerFeedbackCommand(program, { cwd: ctx.io.cwd, authed: ctx.authed, out: ctx.out, setPartial: () => ctx.setExit(exitCodes.partial) });
  registerAudit(program, ctx);
  registerAlerts(program, ctx);
  registerEdge(program, ctx);
  return program;
}
