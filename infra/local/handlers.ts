import type { FunctionName } from '../../functions/routes.js';
import type { LambdaHandler } from './gateway.js';

/** Every function of the route table, as the local gateway invokes it: the same modules Lambda runs. */
export async function loadHandlers(): Promise<Record<FunctionName, LambdaHandler>> {
  const modules: Record<FunctionName, Promise<{ handler: unknown }>> = {
    'public-info': import('../../functions/public-info.js'),
    discovery: import('../../functions/discovery.js'),
    auth: import('../../functions/auth.js'),
    predict: import('../../functions/predict.js'),
    batch: import('../../functions/batch.js'),
    status: import('../../functions/status.js'),
    keys: import('../../functions/keys.js'),
    users: import('../../functions/users.js'),
    audit: import('../../functions/audit.js'),
    models: import('../../functions/models.js'),
    docs: import('../../functions/docs.js'),
    inference: import('../../functions/inference.js'),
    quality: import('../../functions/quality.js'),
    insight: import('../../functions/insight.js'),
    // Scheduled, not routed: the local twin's timers call it (infra/local/schedules.ts), the gateway never does.
    'quality-schedule': import('../../functions/quality-schedule.js'),
  };
  const entries = await Promise.all(
    Object.entries(modules).map(async ([name, mod]) => [name, (await mod).handler as LambdaHandler] as const),
  );
  return Object.fromEntries(entries) as Record<FunctionName, LambdaHandler>;
}
