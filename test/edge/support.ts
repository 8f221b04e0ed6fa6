import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Helpers of the edge and container tests: a Dockerfile and .dockerignore reader (enough of Docker's syntax
 * for our own files), child twins that are always killed, self-signed certificates from `openssl`, and an
 * HTTPS client that trusts one CA.
 */

export const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const referencePackageDir = join(repoRoot, 'models', 'reactor-yield', '1.0.0');
export const edgeAdminPassword = 'edge-admin-password-1';
/** Inside every valid range of reactor-yield@1.0.0. */
export const validRow = { temp: 360, pressure: 6, flow: 100 } as const;
/** Valid, but its predicted yield (~10 %) is far below the 70 % alert minimum. */
export const outOfBandRow = { temp: 300, pressure: 6, flow: 100 } as const;

// ---------------------------------------------------------------------------------------------------------
// Dockerfile

export interface Instruction {
  /** Upper-cased: FROM, RUN, COPY, ... */
  op: string;
  /** `--name=value` flags before the arguments (COPY --from, RUN --mount, HEALTHCHECK --interval, ...). */
  flags: Record<string, string>;
  /** The rest, continuation lines joined. */
  args: string;
  line: number;
}

export interface Stage {
  image: string;
  name: string | undefined;
  instructions: Instruction[];
}

const flagOps = new Set(['FROM', 'RUN', 'COPY', 'ADD', 'HEALTHCHECK']);

/** Splits a Dockerfile into stages of instructions: comments dropped, `\` continuations joined. */
export function parseDockerfile(text: string): Stage[] {
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    if (/^\s*#/.test(line)) return; // comments (also inside a continuation, as Docker does)
    if (!pending && line.trim() === '') return;
    const continued = /\\\s*$/.test(line);
    const body = continued ? line.replace(/\\\s*$/, '') : line;
    pending = pending ? { text: `${pending.text} ${body.trim()}`, line: pending.line } : { text: body.trim(), line: index + 1 };
    if (!continued) {
      instructions.push(toInstruction(pending.text, pending.line));
      pending = undefined;
    }
  });
  if (pending) instructions.push(toInstruction(pending.text, pending.line));
  const stages: Stage[] = [];
  for (const instruction of instructions) {
    if (instruction.op === 'FROM') {
      const [image, as, name] = instruction.args.split(/\s+/);
      stages.push({ image: image ?? '', name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else if (stages.length === 0) {
      if (instruction.op !== 'ARG') throw new Error(`line ${instruction.line}: ${instruction.op} before the first FROM`);
    } else {
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

function toInstruction(text: string, line: number): Instruction {
  const match = /^(\S+)\s*(.*)$/.exec(text);
  if (!match) throw new Error(`line ${line}: cannot read "${text}"`);
  const op = match[1]!.toUpperCase();
  let rest = match[2]!;
  const flags: Record<string, string> = {};
  if (flagOps.has(op)) {
    for (;;) {
      const flag = /^--([a-z-]+)(?:=(\S*))?\s*/.exec(rest);
      if (!flag) break;
      flags[flag[1]!] = flag[2] ?? 'true';
      rest = rest.slice(flag[0].length);
    }
  }
  return { op, flags, args: rest.trim(), line };
}

/** Exec form (`["a", "b"]`) or shell words. */
export function argList(args: string): string[] {
  if (args.startsWith('[')) return JSON.parse(args) as string[];
  return args.split(/\s+/).filter(Boolean);
}

/** `ENV A=1 B="x y"` (and the legacy `ENV A 1`). */
export function envPairs(args: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (!args.includes('=')) {
    const [key, ...value] = args.split(/\s+/);
    out[key!] = value.join(' ');
    return out;
  }
  for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    out[m[1]!] = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
  }
  return out;
}

/** The sources and destination of a COPY. */
export function copyPaths(instruction: Instruction): { sources: string[]; dest: string } {
  const parts = argList(instruction.args);
  if (parts.length < 2) throw new Error(`line ${instruction.line}: COPY needs a source and a destination`);
  return { sources: parts.slice(0, -1), dest: parts.at(-1)! };
}

// ---------------------------------------------------------------------------------------------------------
// .dockerignore

interface IgnoreRule {
  pattern: RegExp;
  exclude: boolean;
}

/**
 * Docker's .dockerignore rules, as far as our file uses them: `*`, `**`, `?`, `!` exceptions, last match
 * wins, and a pattern matching a parent directory matches everything below it.
 */
export function dockerIgnore(text: string): (path: string) => boolean {
  const rules: IgnoreRule[] = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const exclude = !l.startsWith('!');
      const glob = (exclude ? l : l.slice(1)).replace(/^\/+/, '').replace(/\/+$/, '');
      let source = '';
      for (let i = 0; i < glob.length; i++) {
        const c = glob[i]!;
        if (c === '*' && glob[i + 1] === '*') {
          // `**/` matches zero or more directories.
          source += glob[i + 2] === '/' ? '(?:.*/)?' : '.*';
          i += glob[i + 2] === '/' ? 2 : 1;
        } else if (c === '*') source += '[^/]*';
        else if (c === '?') source += '[^/]';
        else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
      }
      return { pattern: new RegExp(`^${source}$`), exclude };
    });
  return (path: string) => {
    const parts = path.replace(/^\.?\/+/, '').split('/');
    const candidates = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const rule of rules) {
      if (candidates.some((c) => rule.pattern.test(c))) ignored = rule.exclude;
    }
    return ignored;
  };
}

// ---------------------------------------------------------------------------------------------------------
// Child twins

export interface ChildTwin {
  url: string;
  child: ChildProcess;
  /** Everything it wrote so far (stdout and stderr). */
  output(): string;
  /** SIGTERM, then the exit code (SIGKILL after 20 s: then it rejects). */
  stop(): Promise<number | null>;
}

const children = new Set<ChildProcess>();
// Even if the test process ends without its afterAll (a crash, a timeout), no child twin outlives it.
process.once('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

/** Kills every child twin still running (afterAll, whatever happened). */
export async function killChildren(): Promise<void> {
  await Promise.all(
    [...children].map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          child.once('exit', () => done());
          child.kill('SIGKILL');
        }),
    ),
  );
  children.clear();
}

/** Starts `command` and resolves once it prints `running at <url>`. */
export function spawnTwin(command: string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs?: number }): Promise<ChildTwin> {
  const [file, ...args] = command;
  const child = spawn(file!, args, { cwd: options.cwd, env: options.env, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let output = '';
  const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
  return new Promise<ChildTwin>((resolveTwin, rejectTwin) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      rejectTwin(new Error(`no "running at" within ${options.timeoutMs ?? 60_000} ms:\n${output}`));
    }, options.timeoutMs ?? 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk.toString('utf8');
      const match = /running at (\S+)/.exec(output);
      if (match) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stdout!.on('data', (c: Buffer) => (output += c.toString('utf8')));
        resolveTwin({
          url: match[1]!,
          child,
          output: () => output,
          async stop() {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
            const code = await exited;
            clearTimeout(killer);
            children.delete(child);
            if (child.signalCode === 'SIGKILL') throw new Error(`did not stop on SIGTERM within 20 s:\n${output}`);
            return code;
          },
        });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      rejectTwin(new Error(`exited (${code ?? signal}) before it was running:\n${output}`));
    });
  });
}

/** A port that was free a moment ago (for a child that must be told its port in advance). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

/** PATH and HOME of this process (HOME keeps the npm cache), nothing else: AWS_* and TWIN_* stay out. */
export function baseEnv(): NodeJS.ProcessEnv {
  // A child twin keeps the test's clock: under `faketime` (npm run test:future) the library and its offset
  // travel in these variables, and a child on the real clock would disagree with the test about "now".
  const clock = Object.fromEntries(Object.entries(process.env).filter(([name]) => name === 'LD_PRELOAD' || name.startsWith('FAKETIME') || name === 'DONT_FAKE_MONOTONIC'));
  return { PATH: process.env.PATH, HOME: process.env.HOME, ...(process.env.TMPDIR ? { TMPDIR: process.env.TMPDIR } : {}), ...clock };
}

// ---------------------------------------------------------------------------------------------------------
// HTTP(S)

export interface JsonResponse<T = any> {
  status: number;
  headers: Headers;
  json: T;
  text: string;
}

/** fetch with a bearer token and a JSON body; the body parsed when it is JSON. */
export async function callJson<T = any>(baseUrl: string, method: string, path: string, options: { token?: string; body?: unknown } = {}): Promise<JsonResponse<T>> {
  const response = await fetch(new URL(path, baseUrl), {
    method,
    headers: {
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
    },
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

export async function loginAs(baseUrl: string, password = edgeAdminPassword, username = 'admin'): Promise<string> {
  const res = await callJson<{ token?: string }>(baseUrl, 'POST', '/api/v1/auth/login', { body: { username, password } });
  if (res.status !== 200 || typeof res.json?.token !== 'string') throw new Error(`login answered ${res.status}: ${res.text}`);
  return res.json.token;
}

/** An HTTPS request that trusts `ca` (and only the default CAs besides). */
export function httpsJson(url: string, ca: Buffer, method: string, options: { token?: string; body?: unknown } = {}): Promise<{ status: number; json: any; protocol: string | undefined }> {
  return new Promise((done, fail) => {
    const req = httpsRequest(
      url,
      {
        method,
        ca,
        headers: {
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        },
      },
      (res) => {
        const protocol = (res.socket as import('node:tls').TLSSocket).getProtocol?.() ?? undefined;
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          let json: any;
          try {
            json = JSON.parse(text);
          } catch {
            json = text;
          }
          done({ status: res.statusCode ?? 0, json, protocol: protocol ?? undefined });
        });
      },
    );
    req.on('error', fail);
    if (options.body !== undefined) req.write(JSON.stringify(options.body));
    req.end();
  });
}

/** A self-signed certificate for 127.0.0.1 and localhost, made by the `openssl` command. */
export async function selfSignedCertificate(dir: string): Promise<{ cert: Buffer; key: Buffer; certPath: string; keyPath: string }> {
  const certPath = join(dir, `tls-${randomBytes(4).toString('hex')}.crt`);
  const keyPath = certPath.replace(/\.crt$/, '.key');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-sha256', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', keyPath, '-out', certPath],
    { stdio: 'pipe' },
  );
  return { cert: await readFile(certPath), key: await readFile(keyPath), certPath, keyPath };
}
