/** Metric names: emitted by the functions (middleware and core), read by the Ops stack's alarms and dashboard. */
export const metricNames = {
  /** Count per request that reached a function. */
  requests: 'Requests',
  /** Count per request answered with a 5xx. */
  errors: 'Errors',
  /** Milliseconds per request, handler start to response. */
  latency: 'Latency',
  /** Rows predicted, with the model and version dimensions (one single-metric blob each). */
  predictions: 'Predictions',
  /** Count per prediction answered from the container's cache. */
  modelCacheHits: 'ModelCacheHits',
  /** Count per anomaly alert published. */
  alerts: 'Alerts',
  /** Count per alert (anomaly or quality) held back by its plant's alert cap (dimension: plant; `(platform)` without one, a name no plant can have). */
  alertsSuppressed: 'AlertsSuppressed',
  /** Count per anomaly alert that could not be published (dimension: model). The Ops stack alarms on it. */
  alertPublishFailures: 'AlertPublishFailures',
  /** Count per model that fell back to degraded serving (dimension: model). The Ops stack alarms on it. */
  modelDegraded: 'ModelDegraded',
  /** Count per prediction whose stats counters could not be written (dimension: model); the prediction is served. */
  statsWriteFailures: 'StatsWriteFailures',
  /** Count per request refused with 429. */
  rateLimited: 'RateLimited',
} as const;
