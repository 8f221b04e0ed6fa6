import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';

/** `npm start`: the local twin on 127.0.0.1. Env: PORT (3000), TWIN_DATA_DIR (.data), TWIN_ADMIN_PASSWORD. */
const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  TWIN_DATA_DIR: z.string().min(1).default('.data'),
  TWIN_ADMIN_PASSWORD: z.string().min(8, 'must be at least 8 characters').optional(),
  TWIN_ACCESS_LOG: z.enum(['on', 'off']).default('on'),
});

const { values } = parseArgs({ options: { help: { type: 'boolean', short: 'h' } }, strict: true });
if (values.help) {
  process.stdout.write('Usage: npm start\n  Env: PORT (default 3000), TWIN_DATA_DIR (default .data), TWIN_ADMIN_PASSWORD, TWIN_ACCESS_LOG=on|off\n');
  process.exit(0);
}

const env = envSchema.safeParse(process.env);
if (!env.success) {
  for (const issue of env.error.issues) process.stderr.write(`Invalid ${String(issue.path[0])}: ${issue.message}\n`);
  process.exit(2);
}

// Powertools reads these when its modules load, so they are set before the twin (and the handlers) import.
process.env.POWERTOOLS_METRICS_DISABLED ??= process.env.TWIN_METRICS === 'on' ? 'false' : 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
const { startLocalTwin } = await import('./twin.js');

const twin = await startLocalTwin({
  dataDir: resolve(env.data.TWIN_DATA_DIR),
  port: env.data.PORT,
  ...(env.data.TWIN_ADMIN_PASSWORD ? { adminPassword: env.data.TWIN_ADMIN_PASSWORD } : {}),
  ...(env.data.TWIN_ACCESS_LOG === 'on' ? { accessLog: (line) => process.stdout.write(`${JSON.stringify({ type: 'access', ...line })}\n`) } : {}),
}).catch((error: unknown) => {
  process.stderr.write(`Twinserve local twin failed to start: ${(error as Error).message}\n`);
  process.exit(1);
});

const { url, seed } = twin;
const lines = [
  '',
  `Twinserve local twin is running at ${url}`,
  `  dashboard: ${url}/ (sign in as admin)`,
  `  data:      ${twin.dataDir}`,
  `  dynamodb:  ${twin.dynamodbEndpoint} (embedded)`,
  `  s3:        ${twin.s3Endpoint} (embedded)`,
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
