/** Types of the SDK's routes and calls (client/sdk.ts re-exports them). */
import type { ApiRoutes } from '../api-types.js';

// ---------------------------------------------------------------------------------------------------------
// Types of every route, generated from the contracts into plain types (api-types.ts), so the built package
// needs neither zod nor the server's code, at run time or for its .d.ts.

/** A key of the route table, e.g. `'POST /api/v1/keys'`. */
export type RouteKey = keyof ApiRoutes;
/** What route `K` answers on success. */
export type ResponseOf<K extends RouteKey> = ApiRoutes[K]['response'];
/** The body route `K` takes (the validator's input type). */
export type BodyOf<K extends RouteKey> = ApiRoutes[K]['body'];
/** The query route `K` takes. */
export type QueryOf<K extends RouteKey> = ApiRoutes[K]['query'];
type PathParamNames<P extends string> = P extends `${string}{${infer Name}}${infer Rest}` ? Name | PathParamNames<Rest> : never;
/** The path parameters of route `K` (`{name}` in `/api/v1/models/{name}/versions`). */
export type ParamsOf<K extends RouteKey> = K extends `${string} ${infer P}` ? ([PathParamNames<P>] extends [never] ? undefined : Record<PathParamNames<P>, string>) : undefined;
export type { ApiRoutes };

export type FeatureRow = Record<string, number>;
export type PredictResponse = ResponseOf<'POST /api/v1/twin/predict'>;
export type BatchResponse = ResponseOf<'POST /api/v1/twin/batch'>;
export type StatusResponse = ResponseOf<'GET /api/v1/twin/status'>;
export type ModelInfo = ResponseOf<'GET /model/info'>;
export type MetricsResponse = ResponseOf<'GET /metrics'>;
export type HealthResponse = ResponseOf<'GET /health'>;
export type KeyView = ResponseOf<'GET /api/v1/keys'>['keys'][number];
export type KeyWithSecret = ResponseOf<'POST /api/v1/keys'>;
export type CreateKeyRequest = BodyOf<'POST /api/v1/keys'>;
export type UserView = ResponseOf<'POST /api/v1/users'>;
export type CreateUserRequest = BodyOf<'POST /api/v1/users'>;
export type UpdateUserRequest = BodyOf<'PATCH /api/v1/users/{username}'>;
export type AuditQuery = NonNullable<QueryOf<'GET /api/v1/audit'>>;
export type AuditResponse = ResponseOf<'GET /api/v1/audit'>;
export type AuditRecord = AuditResponse['items'][number];
export type AlertsResponse = ResponseOf<'GET /api/v1/alerts'>;
export type AlertEvent = AlertsResponse['alerts'][number];
export type ModelList = ResponseOf<'GET /api/v1/models'>;
export type ModelVersions = ResponseOf<'GET /api/v1/models/{name}/versions'>;
export type PublishRequest = BodyOf<'POST /api/v1/models/{name}/versions'>;
export type PublishResponse = ResponseOf<'POST /api/v1/models/{name}/versions'>;
export type RoutingRequest = BodyOf<'PUT /api/v1/models/{name}/routing'>;
export type RoutingResponse = ResponseOf<'PUT /api/v1/models/{name}/routing'>;
export type ModelStats = ResponseOf<'GET /api/v1/models/{name}/stats'>;
export type InferRequest = BodyOf<'POST /v2/models/{name}/infer'>;
export type InferResponse = ResponseOf<'POST /v2/models/{name}/infer'>;
export type ModelMetadata = ResponseOf<'GET /v2/models/{name}'>;
export type FeedbackRequest = BodyOf<'POST /api/v1/models/{name}/feedback'>;
export type FeedbackObservation = FeedbackRequest['observations'][number];
export type FeedbackResponse = ResponseOf<'POST /api/v1/models/{name}/feedback'>;
export type QualityResponse = ResponseOf<'GET /api/v1/models/{name}/quality'>;
export type CalibrationRequest = BodyOf<'PUT /api/v1/models/{name}/versions/{version}/calibration'>;
export type CalibrationResponse = ResponseOf<'PUT /api/v1/models/{name}/versions/{version}/calibration'>;
/** The most observations one feedback call takes. */
export const maxFeedbackObservations = 1000;
export type ExplainResponse = ResponseOf<'POST /api/v1/models/{name}/explain'>;
export type SweepRequest = BodyOf<'POST /api/v1/models/{name}/sweep'>;
export type SweepResponse = ResponseOf<'POST /api/v1/models/{name}/sweep'>;
export type OptimizeRequest = BodyOf<'POST /api/v1/models/{name}/optimize'>;
export type OptimizeResponse = ResponseOf<'POST /api/v1/models/{name}/optimize'>;

/** A row's result in {@link TwinClient.batch}: `index` is its position in the list you passed. */
export type BatchRowResult = BatchResponse['results'][number];
export type BatchRowError = BatchResponse['errors'][number];

export interface BatchAllResponse {
  total: number;
  successful: number;
  failed: number;
  results: BatchRowResult[];
  errors: BatchRowError[];
  /** Requests sent (chunks of at most {@link maxBatchRows}). */
  chunks: number;
  /** Every model version that answered (more than one under an A/B split). */
  model_versions: string[];
  inference_time_ms: number;
}

/** The API's batch limit: `batch` splits longer lists. */
export const maxBatchRows = 100;

/** Which model answers: default (none), a model by name, or one version of it. */
export interface ModelChoice {
  model?: string;
  version?: string;
}
