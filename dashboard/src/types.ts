/**
 * The API shapes the dashboard reads (docs/api.md). Written out here rather than imported from functions/ so
 * the browser bundle never pulls server code (it imports only import-free modules from there: the route
 * table, the quality figures and the model owner rules; and the SDK's generated types); the browser tests run
 * against the real API and catch drift.
 */

export interface FeatureSpec {
  name: string;
  unit?: string;
  description?: string;
  min: number;
  max: number;
  /** Not in the manifest today; honoured when a model package provides it. */
  step?: number;
}

export interface ModelInfo {
  name: string;
  type: string;
  version: string;
  features: string[];
  trained_date: string;
  description?: string;
  target: { name: string; unit?: string };
  feature_specs: FeatureSpec[];
  output: { kind: string; members?: number };
  interval: { method: string; lower: number; upper: number } | null;
  alert_thresholds: { min?: number; max?: number } | null;
  sha256: string;
}

export interface PredictResponse {
  user: string;
  prediction: number;
  confidence_interval: [number, number] | null;
  inference_time_ms: number;
  /** Epoch seconds. */
  timestamp: number;
  model: { name: string; version: string };
  model_version: string;
  /** Served from the prediction cache. */
  from_cache?: boolean;
  /** Features outside (or in the sparse tail of) the model's training data: the prediction extrapolates. */
  extrapolation?: Record<string, 'outside_training_range' | 'training_tail' | string>;
  /** With `explain: true`: per-feature contributions (docs/insight.md). */
  explanation?: { method: { method: string }; expected_value: number; contributions: Record<string, number> };
}

export interface LoginResponse {
  token: string;
  expires_in: number;
  scope?: string;
}

export interface HealthResponse {
  status: 'healthy' | 'unhealthy' | string;
  model_version?: string;
  model?: string;
  reason?: string;
}

export interface KeyView {
  id: string;
  prefix: string;
  name: string;
  owner: string;
  plant: string | null;
  scopes: string[];
  status: 'active' | 'revoked' | 'expired';
  created: string;
  expires_at: string;
  last_used: string | null;
  key?: string;
}

export interface AuditRecord {
  time: string;
  requestId: string;
  principal: string;
  principalType: string;
  subject?: string;
  role?: string;
  action: string;
  method: string;
  resource: string;
  outcome: number;
  errorCode?: string;
  sourceIp?: string;
  modelVersion?: string;
  /** Only on records imported from an edge box: who imported it, from which box, when. */
  imported?: { by: string; edge: string; at: string };
}
