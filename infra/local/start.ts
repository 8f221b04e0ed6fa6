import { existsSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import * as z from 'zod';
import { defaultDataDir } from './data-dir.js';

/**
 * `npm start`: the local twin on 127.0.0.1. Env: PORT (3000), TWIN_DATA_DIR (default
 * `$XDG_DATA_HOME/twinserve` or `~/.local/share/twinserve`), TWIN_ADMIN_PASSWORD.
 */
const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  TWIN_DATA_DIR: z.string().min(1).optional(),
  TWIN_ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
  TWIN_ACCESS_LOG: z.enum(['on', 'off']).default('on'),
  TWIN_SCHEDULES: z.enum(['on', 'off']).default('on'),
  TWIN_ALERT_WEBHOOK_URL: z.url().optional(),
  TWIN_PUBLIC_URL: z.url().optional(),
  TWIN_TRUST_PROXY: z.enum(['true', 'false']).optional(),
  TWIN_DEFAULT_MODEL: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be a model name').optional(),
  TWIN_PLANT_DEFAULT_MODELS: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON such as {"plant-b":"column-purity"}' });
        return z.NEVER;
      }
    })
    .pipe(z.record(z.string(), z.string()))
    .optional(),
});

const usage = `Usage: npm start [-- options]
  (no options)              the local twin: embedded DynamoDB and S3, every model under models/, on 127.0.0.1
  --edge --model <dir|.tgz> edge mode: serve model packages from local disk, no S3, no network
                            (repeat --model for several models; the first is the default model)
  --host <address>          listen address (default 127.0.0.1); other than loopback needs TLS
  --tls-cert <pem> --tls-key <pem>   serve HTTPS (TLS 1.2 at least)
  --allow-insecure-http     allow plain HTTP on a non-loopback address (not recommended)
  --public-url <url>        the URL clients use (token issuer), e.g. https://twin.plant.example (env TWIN_PUBLIC_URL)
  --trust-proxy             behind a reverse proxy: client addresses from X-Forwarded-For (env TWIN_TRUST_PROXY=true)
Env: PORT (default 3000), TWIN_DATA_DIR (default $XDG_DATA_HOME/twinserve, else ~/.local/share/twinserve),
     TWIN_ADMIN_PASSWORD, TWIN_ACCESS_LOG=on|off, TWIN_SCHEDULES=on|off (the quality evaluation every 15 minutes),
     TWIN_DEFAULT_MODEL (the model /api/v1/twin/* and /predict serve), TWIN_PLANT_DEFAULT_MODELS (JSON, per plant),
     TWIN_RATE_LIMIT_PER_MINUTE, TWIN_ALERT_WEBHOOK_URL, TWIN_METRICS=on
`;
let values;
try {
  ({ values } = parseArgs({
    options: {
      help: { type: 'boolean', short: 'h' },
      edge: { type: 'boolean' },
      model: { type: 'string', multiple: true },
      host: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'allow-insecure-http': { type: 'boolean' },
      'public-url': { type: 'string' },
      'trust-proxy': { type: 'boolean' },
    },
    strict: true,
  }));
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n\n${usage}`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(usage);
  process.exit(0);
}
if (values.edge && !values.model) {
  process.stderr.write(`--edge needs --model <package dir or .tgz>\n\n${usage}`);
  process.exit(2);
}
if (!values.edge && values.model) {
  process.stderr.write(`--model is for edge mode: add --edge\n\n${usage}`);
  process.exit(2);
}
if (Boolean(values['tls-cert']) !== Boolean(values['tls-key'])) {
  process.stderr.write(`--tls-cert and --tls-key go together\n\n${usage}`);
  process.exit(2);
}
let tls: { cert: Buffer; key: Buffer } | undefined;
try {
  tls = values['tls-cert'] ? { cert: readFileSync(values['tls-cert']), key: readFileSync(values['tls-key']!) } : undefined;
} catch (error) {
  process.stderr.write(`Cannot read the TLS certificate or key: ${(error as Error).message}\n`);
  process.exit(2);
}

const env = envSchema.safeParse(process.env);
if (!env.success) {
  for (const issue of env.error.issues) process.stderr.write(`Invalid ${String(issue.path[0])}: ${issue.message}\n`);
  process.exit(2);
}

// Before 2026-12 the default was `.data` in the working directory. Its data (users, keys, models) are not
// left behind silently: on the first start with the new default, the twin stops and says what to do.
if (!env.data.TWIN_DATA_DIR && existsSync('.data/signing-keys.json')) {
  const target = defaultDataDir(process.env);
  if (!existsSync(target)) {
    process.stderr.write(
      `./.data holds a local twin's data (the old default data dir, inside the working directory: no longer used).\n` +
        `Move it to the new default and start again:\n  mkdir -p ${dirname(target)} && mv .data ${target} && chmod 700 ${target}\n` +
        `or remove it (rm -rf .data) to start afresh, or set TWIN_DATA_DIR to a directory outside ${process.cwd()}.\n`,
    );
    process.exit(2);
  }
  process.stderr.write(`Note: ./.data (the old default data dir) is not used; the data dir is ${target}. Remove ./.data when you no longer need it.\n`);
}

// Powertools reads these when its modules load, so they are set before the twin (and the handlers) import.
process.env.POWERTOOLS_METRICS_DISABLED ??= process.env.TWIN_METRICS === 'on' ? 'false' : 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { startLocalTwin } = await import('./twin.js');

const twin = await startLocalTwin({
  dataDir: defaultDataDir(process.env),
  port: env.data.PORT,
  ...(values.host ? { host: values.host } : {}),
  ...(tls ? { tls } : {}),
  ...(values['allow-insecure-http'] ? { allowInsecureHttp: true } : {}),
  ...((values['public-url'] ?? env.data.TWIN_PUBLIC_URL) ? { publicUrl: values['public-url'] ?? env.data.TWIN_PUBLIC_URL } : {}),
  ...(values['trust-proxy'] || env.data.TWIN_TRUST_PROXY === 'true' ? { trustProxy: true } : {}),
  ...(values.edge && values.model ? { edgeModel: values.model } : {}),
  ...(env.data.TWIN_DEFAULT_MODEL ? { defaultModel: env.data.TWIN_DEFAULT_MODEL } : {}),
  ...(env.data.TWIN_PLANT_DEFAULT_MODELS ? { plantDefaultModels: env.data.TWIN_PLANT_DEFAULT_MODELS } : {}),
  ...(env.data.TWIN_ALERT_WEBHOOK_URL ? { alertWebhookUrl: env.data.TWIN_ALERT_WEBHOOK_URL } : {}),
  ...(env.data.TWIN_ADMIN_PASSWORD ? { adminPassword: env.data.TWIN_ADMIN_PASSWORD } : {}),
  ...(env.data.TWIN_SCHEDULES === 'on' ? { schedules: { log: (line) => process.stdout.write(`${JSON.stringify({ type: 'schedule', ...line })}\n`) } } : {}),
  ...(env.data.TWIN_ACCESS_LOG === 'on' ? { accessLog: (line) => process.stdout.write(`${JSON.stringify({ type: 'access', ...line })}\n`) } : {}),
}).catch((error: unknown) => {
  process.stderr.write(`Twinserve local twin failed to start: ${(error as Error).message}\n`);
  process.exit(1);
});

const { url, seed } = twin;
// Before the ready line: a supervisor may stop the twin as soon as it reads it.
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`\n${signal}: stopping the local twin...\n`);
    twin.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`stop failed: ${(error as Error).message}\n`);
        process.exit(1);
      },
    );
  });
}

const lines = [
  '',
  `Twinserve ${values.edge ? 'edge' : 'local'} twin is running at ${url}`,
  `  dashboard: ${url}/ (sign in as admin)`,
  `  data:      ${twin.dataDir}`,
  `  dynamodb:  ${twin.dynamodbEndpoint} (embedded; signed requests only)`,
  twin.s3Endpoint ? `  s3:        ${twin.s3Endpoint} (embedded; signed requests only)` : `  models:    ${twin.dataDir}/models (edge: local disk, no S3)`,
  seed.published.length ? `  published: ${seed.published.join(', ')}` : '  models:    already published',
];
if (seed.generatedAdminPassword) {
  lines.push(`  admin password (shown once, keep it): ${seed.generatedAdminPassword}`);
} else if (seed.adminCreated) {
  lines.push('  admin created with TWIN_ADMIN_PASSWORD');
} else {
  lines.push('  admin exists (password from its first start)');
}
lines.push(
  '',
  'Try it:',
  `  TOKEN=$(curl -s ${url}/api/v1/auth/login -H 'content-type: application/json' \\`,
  `    -d '{"username":"admin","password":"<password>"}' | node -pe 'JSON.parse(require("fs").readFileSync(0)).token')`,
  `  curl -s ${url}/api/v1/twin/predict -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' \\`,
  `    -d '{"temp":360,"pressure":6,"flow":100}'`,
  '',
  'Ctrl-C stops everything.',
  '',
);
process.stdout.write(`${lines.join('\n')}\n`);

