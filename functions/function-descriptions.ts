import type { FunctionName } from './routes.js';

/**
 * What each Lambda function serves, in one line: the OpenAPI document's tag for the function's routes
 * (functions/openapi.ts) and the deployed function's description (infra/constructs/twin-function.ts). Kept
 * out of the route table so that only the functions that need them carry them in their bundle.
 */
export const functionDescriptions: Record<FunctionName, string> = {
  docs: 'The OpenAPI document and the API reference page (public)',
  inference: 'Open Inference Protocol (KServe V2): health, metadata, readiness, inference',
  insight: 'Process insight: explanations, what-if sweeps, setpoint optimizer',
  'public-info': 'Health (loads the serving model, so it carries onnxruntime)',
  discovery: "The issuer's discovery document and JWKS (public; fetched by the JWT authorizer, so kept small)",
  auth: 'Password login and the OAuth2 token endpoint',
  predict: 'Single predictions with their interval',
  batch: 'Batch predictions (up to 100 rows in one inference run)',
  status: 'Status, model info and metrics',
  keys: 'API-key management: create, list, revoke, rotate',
  users: 'Users and roles',
  audit: 'Audit log queries',
  models: 'Model lifecycle: list, publish, activate, rollback, A/B routing, stats, alert history',
  quality: 'Model quality: feedback (measured values), error and coverage, A/B verdict, recalibration, drift',
  'quality-schedule': 'Scheduled quality evaluation (functions/routes.ts schedules): bands and input drift of every model, quality alerts',
};
