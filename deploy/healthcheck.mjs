// The container's HEALTHCHECK: GET /health on the container's own loopback, exit 0 when the twin answers
// 200 {"status":"healthy"} (a model is loaded and can serve), 1 otherwise. Plain JavaScript run by `node`
// (the slim image has no curl), so a probe costs one short-lived process and no TypeScript loader.
// The twin listens in plain HTTP inside the container; TLS ends at the proxy in front (docs/edge.md).
const port = Number(process.env.PORT || 3000);
try {
  const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(4000) });
  const body = await response.json().catch(() => ({}));
  if (response.status !== 200 || body.status !== 'healthy') {
    process.stderr.write(`unhealthy: ${response.status} ${JSON.stringify(body).slice(0, 200)}\n`);
    process.exit(1);
  }
} catch (error) {
  process.stderr.write(`unhealthy: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
