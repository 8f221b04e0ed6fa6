import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { argList, copyPaths, dockerIgnore, envPairs, parseDockerfile, repoRoot, type Instruction, type Stage } from './support.js';

/**
 * The container's facts, read from the files (there is no Docker engine on these machines): Dockerfile,
 * .dockerignore, docker-compose.yml and deploy/nginx.conf. That the runtime stage's files actually start
 * is production-install.test.ts's job.
 */

const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const stages = parseDockerfile(dockerfile);
const runtime = stages.at(-1)!;
const isIgnored = dockerIgnore(readFileSync(join(repoRoot, '.dockerignore'), 'utf8'));

function all(stage: Stage, op: string): Instruction[] {
  return stage.instructions.filter((i) => i.op === op);
}

function last(stage: Stage, op: string): Instruction | undefined {
  return all(stage, op).at(-1);
}

function runtimeEnv(): Record<string, string> {
  return Object.assign({}, ...all(runtime, 'ENV').map((i) => envPairs(i.args))) as Record<string, string>;
}

/** Every file below `path` (relative to the repo), or the file itself. */
function filesUnder(path: string): string[] {
  const full = join(repoRoot, path);
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(repoRoot, join(e.parentPath, e.name)));
}

describe('Dockerfile', () => {
  it('is multi-stage on Node 22 slim images, with a named build stage and an unnamed runtime stage', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.image).toMatch(/^node:22(\.\d+)*-([a-z]+-)?slim$/);
    expect(runtime.name).toBeUndefined();
    expect(stages.slice(0, -1).every((s) => s.name)).toBe(true);
  });

  it('runs as a fixed non-root uid, created in the image, after everything that needs root', () => {
    const user = last(runtime, 'USER');
    expect(user, 'USER in the runtime stage').toBeDefined();
    const [uid, gid] = user!.args.split(':');
    expect(uid).toMatch(/^\d+$/);
    expect(Number(uid)).toBeGreaterThanOrEqual(10000);
    expect(gid === undefined || Number(gid) > 0).toBe(true);
    expect(all(runtime, 'RUN').some((r) => r.args.includes(`--uid ${uid}`)), 'the user is created').toBe(true);
    const userIndex = runtime.instructions.indexOf(user!);
    expect(runtime.instructions.slice(userIndex).filter((i) => i.op === 'RUN' || i.op === 'COPY' || i.op === 'ADD')).toEqual([]);
  });

  it('has a HEALTHCHECK that runs node against /health (no curl in a slim image)', () => {
    const healthcheck = last(runtime, 'HEALTHCHECK');
    expect(healthcheck).toBeDefined();
    expect(healthcheck!.args).toMatch(/^CMD\s/);
    const command = argList(healthcheck!.args.replace(/^CMD\s+/, ''));
    expect(command[0]).toBe('node');
    expect(command).not.toContain('curl');
    const script = readFileSync(join(repoRoot, command[1]!), 'utf8');
    expect(script).toContain('http://127.0.0.1:${port}/health');
    expect(script).toMatch(/process\.env\.PORT/);
    // The script the healthcheck runs is in the image.
    expect(all(runtime, 'COPY').some((c) => copyPaths(c).sources.includes(command[1]!))).toBe(true);
    for (const flag of ['interval', 'timeout', 'start-period', 'retries']) expect(healthcheck!.flags[flag], flag).toBeDefined();
  });

  it('exposes the port it listens on, and keeps its data in a volume', () => {
    const env = runtimeEnv();
    expect(all(runtime, 'EXPOSE').map((e) => e.args)).toEqual(['3000']);
    expect(env.PORT).toBe('3000');
    expect(env.TWIN_DATA_DIR).toBe('/data');
    const volumes = all(runtime, 'VOLUME').flatMap((v) => argList(v.args));
    expect(volumes).toContain('/data');
    expect(volumes).toContain('/models');
    expect(all(runtime, 'RUN').some((r) => /chown[^&]*\/data/.test(r.args)), 'the data dir belongs to the user').toBe(true);
  });

  it('starts the edge twin as compiled JavaScript under plain node on the /models package, never via npm or tsx', () => {
    const command = [...argList(last(runtime, 'ENTRYPOINT')?.args ?? '[]'), ...argList(last(runtime, 'CMD')?.args ?? '[]')];
    expect(command.slice(0, 2)).toEqual(['node', 'dist/local/start.mjs']);
    expect(command).not.toContain('--import');
    expect(command).not.toContain('tsx');
    expect(command).toContain('--edge');
    expect(command[command.indexOf('--model') + 1]).toBe('/models');
    // Listening beyond the container's loopback without TLS is the explicit, documented choice.
    expect(command[command.indexOf('--host') + 1]).toBe('0.0.0.0');
    expect(command).toContain('--allow-insecure-http');
    expect(command).not.toContain('npm');
    // The compiled twin comes from the build stage, which builds it with the script npm start builds it with.
    const distCopy = all(runtime, 'COPY').find((c) => copyPaths(c).sources.includes('/app/dist/local'));
    expect(distCopy?.flags.from).toBeDefined();
    const build = stages.find((s) => s.name === distCopy!.flags.from)!;
    expect(all(build, 'RUN').map((r) => r.args)).toContain('npm run build:runtime');
    // npm start runs the same compiled twin (prestart builds it), and tsx is a development tool only.
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { scripts: Record<string, string>; dependencies: Record<string, string>; devDependencies: Record<string, string> };
    expect(pkg.scripts.start).toBe(command.slice(0, 2).join(' '));
    expect(pkg.scripts.prestart).toMatch(/npm run -s build\b/);
    expect(pkg.scripts.build).toContain('npm run -s build:runtime');
    for (const tool of ['tsx', 'esbuild', 'typescript']) expect(pkg.dependencies, tool).not.toHaveProperty(tool);
    expect(pkg.devDependencies).toHaveProperty('tsx');
    // No TypeScript source reaches the runtime stage.
    for (const copy of all(runtime, 'COPY').filter((c) => !c.flags.from)) {
      for (const source of copyPaths(copy).sources) expect(filesUnder(source).filter((f) => /\.ts$/.test(f)), source).toEqual([]);
    }
  });

  it('installs production dependencies only, with the CUDA download skipped, for the runtime', () => {
    const modulesCopy = all(runtime, 'COPY').filter((c) => copyPaths(c).sources.some((s) => s.endsWith('node_modules')));
    expect(modulesCopy).toHaveLength(1);
    const from = stages.find((s) => s.name === modulesCopy[0]!.flags.from);
    expect(from, 'node_modules come from a build stage').toBeDefined();
    const installs = all(from!, 'RUN').filter((r) => /\bnpm (ci|install|i)\b/.test(r.args));
    expect(installs).toHaveLength(1);
    expect(installs[0]!.args).toMatch(/^npm ci --omit=dev\b/);
    expect(all(from!, 'COPY').flatMap((c) => copyPaths(c).sources)).toEqual(expect.arrayContaining(['package.json', 'package-lock.json']));
    // npm 11 runs no dependency install script that package.json's allowScripts does not approve; older npm
    // honours the variable. Either way onnxruntime-node's CUDA download never runs.
    expect(JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).allowScripts).toMatchObject({ 'onnxruntime-node': false });
    expect(all(from!, 'ENV').map((e) => envPairs(e.args))).toContainEqual(expect.objectContaining({ ONNXRUNTIME_NODE_INSTALL: 'skip' }));
    // The runtime stage installs nothing itself.
    for (const run of all(runtime, 'RUN')) expect(run.args).not.toMatch(/\b(npm|npx|yarn|pnpm|apt-get|curl|wget)\b/);
  });

  it('prunes onnxruntime-node to linux/<TARGETARCH> in the dependency stage', () => {
    const deps = stages.find((s) => s.name === all(runtime, 'COPY').find((c) => copyPaths(c).sources.some((s) => s.endsWith('node_modules')))!.flags.from)!;
    expect(all(deps, 'ARG').map((a) => a.args)).toContain('TARGETARCH');
    const prune = all(deps, 'RUN').find((r) => r.args.includes('onnxruntime-node/bin'));
    expect(prune).toBeDefined();
    expect(prune!.args).toContain('amd64) arch=x64');
    expect(prune!.args).toContain('arm64) arch=arm64');
    expect(prune!.args).toMatch(/set -eu/);
  });

  it('bakes in no secret: no password, key, token or secret in ENV or ARG, no key or certificate copied', () => {
    for (const stage of stages) {
      for (const instruction of stage.instructions.filter((i) => i.op === 'ENV' || i.op === 'ARG')) {
        const pairs = instruction.op === 'ENV' ? envPairs(instruction.args) : Object.fromEntries([instruction.args.split('=')].map(([k, v]) => [k, v ?? '']));
        for (const [name, value] of Object.entries(pairs)) {
          if (/PASSWORD|SECRET|TOKEN|(^|_)KEY($|_)|CREDENTIAL|PRIVATE/i.test(name)) expect(value, `line ${instruction.line}: ${name}`).toBe('');
        }
      }
      for (const copy of all(stage, 'COPY')) {
        for (const source of copyPaths(copy).sources) expect(source).not.toMatch(/\.(pem|key|crt)$|\.env|\.data|signing-keys|certs/);
      }
    }
    expect(dockerfile).not.toMatch(/TWIN_ADMIN_PASSWORD\s*=/);
    // No .npmrc (which could carry registry credentials) enters a layer.
    for (const stage of stages) for (const copy of all(stage, 'COPY')) expect(copyPaths(copy).sources).not.toContain('.npmrc');
  });

  it('copies nothing the .dockerignore keeps out of the build context, and keeps the code root-owned', () => {
    for (const stage of stages) {
      for (const copy of all(stage, 'COPY').filter((c) => !c.flags.from)) {
        for (const source of copyPaths(copy).sources) {
          expect(existsSync(join(repoRoot, source)), `${source} exists`).toBe(true);
          const files = filesUnder(source).filter((f) => !isIgnored(f));
          expect(files.length, `${source} reaches the build context`).toBeGreaterThan(0);
        }
      }
    }
    // Only /data is the twin's to write; a compromised process cannot rewrite its own code.
    for (const copy of all(runtime, 'COPY')) expect(copy.flags.chown).toBeUndefined();
  });

  it('builds the dashboard in the build stage from every file outside dashboard/ that it imports', () => {
    const dashboardCopy = all(runtime, 'COPY').find((c) => c.flags.from && copyPaths(c).sources.some((s) => s.includes('dashboard/dist')));
    expect(dashboardCopy).toBeDefined();
    const stage = stages.find((s) => s.name === dashboardCopy!.flags.from)!;
    expect(all(stage, 'RUN').map((r) => r.args)).toContain('npm run build:dashboard');
    const copied = all(stage, 'COPY').flatMap((c) => copyPaths(c).sources);
    // Relative imports leaving dashboard/, followed through the files they reach.
    const seen = new Set<string>();
    const queue = filesUnder('dashboard/src').filter((f) => /\.ts$/.test(f));
    while (queue.length) {
      const file = queue.pop()!;
      for (const m of readFileSync(join(repoRoot, file), 'utf8').matchAll(/(?:import|export)\s[^'"]*?from\s+'(\.[^']+)'/g)) {
        const target = relative(repoRoot, resolve(dirname(join(repoRoot, file)), m[1]!.replace(/\.js$/, '.ts')));
        if (target.startsWith('dashboard/') || seen.has(target)) continue;
        seen.add(target);
        queue.push(target);
      }
    }
    expect(seen.size).toBeGreaterThan(0);
    for (const target of seen) expect(copied.some((c) => target === c || target.startsWith(`${c}/`)), `${target} is copied into the dashboard stage`).toBe(true);
  });
});

describe('.dockerignore', () => {
  it('keeps data, keys, certificates, dependencies, tests, docs and models out of the build context', () => {
    for (const path of [
      'node_modules/zod/package.json',
      '.data/signing-keys.json',
      'functions/signing-keys.json',
      '.git/HEAD',
      '.env',
      'deploy/certs/tls.key',
      'deploy/certs/tls.crt',
      'functions/core/some.pem',
      'test/edge/edge.test.ts',
      'docs/edge.md',
      'bench/run.ts',
      'cdk.out/manifest.json',
      'models/reactor-yield/1.0.0/model.onnx',
      'dashboard/dist/index.html',
      'dashboard/node_modules/x/index.js',
      'infra/stacks/api-stack.ts',
      'Dockerfile',
    ]) {
      expect(isIgnored(path), path).toBe(true);
    }
    for (const path of ['package.json', 'functions/core/manifest.ts', 'infra/local/start.ts', 'infra/build/runtime.ts', 'functions/routes.ts', 'dashboard/src/main.ts']) {
      expect(isIgnored(path), path).toBe(false);
    }
  });
});

/** aws-cdk-lib bundles `yaml` (1.x); it parses compose files fine. A dev dependency: tests only. */
function parseYaml(text: string): any {
  const cdkEntry = createRequire(join(repoRoot, 'package.json')).resolve('aws-cdk-lib');
  const yaml = createRequire(cdkEntry)('yaml') as { parse(text: string): unknown };
  return yaml.parse(text);
}

describe('docker-compose.yml', () => {
  const compose = parseYaml(readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8'));
  const twin = compose.services?.twin;
  const nginx = compose.services?.nginx;

  it('runs the twin, built from this Dockerfile, and nginx:alpine in front of it', () => {
    expect(Object.keys(compose.services).sort()).toEqual(['nginx', 'twin']);
    expect(twin.build).toBe('.');
    expect(nginx.image).toBe('nginx:alpine');
    expect(nginx.depends_on.twin.condition).toBe('service_healthy');
  });

  it('publishes only nginx; the twin sits alone on an internal network in plain HTTP', () => {
    expect(twin.ports).toBeUndefined();
    expect(nginx.ports.sort()).toEqual(['443:443', '80:80']);
    expect(twin.networks).toEqual(['internal']);
    expect(compose.networks.internal.internal).toBe(true);
    expect(nginx.networks).toEqual(expect.arrayContaining(['internal']));
    expect(twin.command).toEqual(['--host', '0.0.0.0', '--allow-insecure-http']);
  });

  it('keeps data and models in volumes, the models read-only, and mounts certificates read-only into nginx', () => {
    expect(twin.volumes).toContain('twin-data:/data');
    expect(twin.volumes.some((v: string) => /:\/models:ro$/.test(v))).toBe(true);
    expect(compose.volumes).toHaveProperty('twin-data');
    expect(nginx.volumes).toEqual(expect.arrayContaining(['./deploy/nginx.conf:/etc/nginx/nginx.conf:ro', './deploy/certs:/etc/nginx/certs:ro']));
  });

  it('restarts, health-checks and hardens both services, and writes no secret', () => {
    for (const service of [twin, nginx]) {
      expect(service.restart).toBe('unless-stopped');
      expect(service.healthcheck.test[0]).toBe('CMD');
      expect(service.security_opt).toContain('no-new-privileges:true');
    }
    expect(twin.healthcheck.test.slice(1)).toEqual(['node', 'deploy/healthcheck.mjs']);
    expect(twin.read_only).toBe(true);
    expect(twin.cap_drop).toEqual(['ALL']);
    // Environment names only: values come from the operator's shell or .env at `up` time.
    for (const entry of twin.environment) expect(entry).toMatch(/^[A-Z_]+$/);
  });
});

describe('deploy/nginx.conf', () => {
  const conf = readFileSync(join(repoRoot, 'deploy', 'nginx.conf'), 'utf8').replace(/#.*$/gm, '');

  it('terminates TLS 1.2 and 1.3 only, with the mounted certificate, and redirects plain HTTP', () => {
    expect(conf).toMatch(/listen 443 ssl;/);
    expect(conf.match(/ssl_protocols ([^;]+);/)![1]!.split(/\s+/).sort()).toEqual(['TLSv1.2', 'TLSv1.3']);
    expect(conf).not.toMatch(/TLSv1(\.1)?[\s;]/);
    expect(conf).toMatch(/ssl_certificate\s+\/etc\/nginx\/certs\/tls\.crt;/);
    expect(conf).toMatch(/ssl_certificate_key\s+\/etc\/nginx\/certs\/tls\.key;/);
    expect(conf).toMatch(/listen 80;[\s\S]*?return 308 https:\/\/\$host\$request_uri;/);
  });

  it('proxies to the twin service and sets the security headers', () => {
    expect(conf).toMatch(/server twin:3000;/);
    expect(conf).toMatch(/proxy_pass http:\/\/twin;/);
    for (const header of ['Strict-Transport-Security', 'X-Content-Type-Options', 'X-Frame-Options', 'Referrer-Policy']) {
      expect(conf).toMatch(new RegExp(`add_header ${header} "[^"]+" always;`));
    }
    expect(conf).toMatch(/server_tokens off;/);
    expect(conf).toMatch(/client_max_body_size 10m;/);
  });

  it('logs no query string (the alert stream carries its token there)', () => {
    const format = /log_format twin ([\s\S]*?);/.exec(conf)![1]!;
    expect(format).toContain('$uri');
    expect(format).not.toMatch(/\$request_uri|\$request\b|\$args|\$query_string/);
  });
});
