/** `twin edge`: run an edge twin in the foreground. */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { CliError, exitCodes, foreground, type CliContext } from './context.js';

/** The Twinserve checkout this CLI runs from (source or built: client/cli/ or client/dist/cli/), if any. */
function checkoutRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'infra', 'local', 'start.ts')) || existsSync(join(dir, 'dist', 'local', 'start.mjs'))) return dir;
    dir = dirname(dir);
  }
  return undefined;
}

export function registerEdge(program: Command, ctx: CliContext): void {
  const { io, setExit } = ctx;

  program
    .command('edge')
    .description('run an edge twin: serve model packages from local disk (same as npm start -- --edge)')
    .requiredOption('--model <dir|tgz>', 'a package folder or .tgz (repeat for several models; the first is the default)', (value: string, previous: string[] = []) => [...previous, value])
    .option('--host <address>', 'listen address (default 127.0.0.1; other than loopback needs TLS)')
    .option('--tls-cert <pem>', 'certificate for HTTPS')
    .option('--tls-key <pem>', 'key for HTTPS')
    .option('--allow-insecure-http', 'plain HTTP on a non-loopback address (not recommended)')
    .action(async (opts: { model: string[]; host?: string; tlsCert?: string; tlsKey?: string; allowInsecureHttp?: boolean }) => {
      const root = checkoutRoot();
      if (!root) throw new CliError('twin edge runs the edge twin of a Twinserve checkout; in one, run npm start -- --edge --model <dir|tgz>', exitCodes.usage);
      // The compiled twin (`npm run build`, as npm start runs it), under plain node.
      const start = join(root, 'dist', 'local', 'start.mjs');
      if (!existsSync(start)) throw new CliError('the edge twin is not built: run npm run build in the Twinserve checkout', exitCodes.usage);
      const args = [start, '--edge', ...opts.model.flatMap((m) => ['--model', resolve(io.cwd, m)])];
      if (opts.host) args.push('--host', opts.host);
      if (opts.tlsCert) args.push('--tls-cert', resolve(io.cwd, opts.tlsCert));
      if (opts.tlsKey) args.push('--tls-key', resolve(io.cwd, opts.tlsKey));
      if (opts.allowInsecureHttp) args.push('--allow-insecure-http');
      const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env: { ...io.env } as NodeJS.ProcessEnv });
      foreground.child = true;
      const forward = (signal: NodeJS.Signals) => child.kill(signal);
      process.on('SIGINT', forward);
      process.on('SIGTERM', forward);
      const code = await new Promise<number>((done) => child.on('exit', (c) => done(c ?? 1)));
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      foreground.child = false;
      setExit(code);
    });
}
