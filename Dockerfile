# syntax=docker/dockerfile:1
#
# Twinserve edge twin: the API, the handlers and the embedded stores in one container, serving one model
# package from the /models volume, with its data (users, keys, rate counters, audit, signing key) in /data.
#   docker build -t twinserve .
#   docker compose up -d            (behind nginx with TLS: see docker-compose.yml and docs/edge.md)
# test/edge/production-install.test.ts rebuilds the runtime stage's file tree from the COPY lines below and
# starts it with this CMD, so what is copied here is what is known to start.

# --- deps: production dependencies only, onnxruntime pruned to this image's platform --------------------
FROM node:22-bookworm-slim AS deps
WORKDIR /app
# onnxruntime-node's install script would fetch CUDA files from outside the npm registry; the CPU binaries
# ship inside the package. (package.json's allowScripts denies that script to npm 11; the variable covers older npm.)
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --omit=dev --no-audit --no-fund
# The package carries every platform (~290 MB); keep linux/<arch> of the image (~48 MB for x64).
ARG TARGETARCH
RUN set -eu; \
    case "${TARGETARCH:-amd64}" in amd64) arch=x64 ;; arm64) arch=arm64 ;; *) echo "unsupported TARGETARCH ${TARGETARCH}" >&2; exit 1 ;; esac; \
    bin=node_modules/onnxruntime-node/bin/napi-v6; \
    test -f "$bin/linux/$arch/onnxruntime_binding.node"; \
    find "$bin" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +; \
    find "$bin/linux" -mindepth 1 -maxdepth 1 ! -name "$arch" -exec rm -rf {} +

# --- build: the dashboard and the twin compiled to JavaScript (esbuild), with the dev dependencies, which
# stay in this stage: the image runs dist/local/start.mjs under plain node, no TypeScript, no tsx.
FROM node:22-bookworm-slim AS build
WORKDIR /app
ENV ONNXRUNTIME_NODE_INSTALL=skip
COPY package.json package-lock.json ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY dashboard ./dashboard
COPY functions ./functions
COPY infra/tables.ts infra/functions.ts infra/dashboard-security.ts ./infra/
COPY infra/local ./infra/local
COPY infra/build ./infra/build
# The dashboard uses the SDK's helpers (client/sdk.ts, its modules in client/sdk/ and its generated types).
COPY client/sdk.ts client/api-types.ts ./client/
COPY client/sdk ./client/sdk
RUN npm run build:dashboard
RUN npm run build:runtime

# --- runtime -------------------------------------------------------------------------------------------
FROM node:22-bookworm-slim
# ORT_DISABLE_TELEMETRY: onnxruntime's telemetry off (functions/core/twin/no-telemetry.ts sets it too).
ENV NODE_ENV=production \
    PORT=3000 \
    TWIN_DATA_DIR=/data \
    ORT_DISABLE_TELEMETRY=1
# A fixed numeric uid (not the image's uid-1000 `node`), so volume ownership and runAsNonRoot are explicit.
RUN groupadd --system --gid 10001 twin \
 && useradd --system --uid 10001 --gid twin --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin twin \
 && mkdir -p /data /models \
 && chown twin:twin /data \
 && chmod 0700 /data
WORKDIR /app
# The code stays root-owned and read-only to the twin: only /data is its to write. Compiled JavaScript
# only; no `twin` CLI (a client: it runs where the operator is, e.g. `npx twin` in a production install).
COPY package.json ./
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist/local ./dist/local
COPY deploy/healthcheck.mjs ./deploy/healthcheck.mjs
COPY --from=build /app/dashboard/dist ./dashboard/dist
# /data: DynamoDB files, the signing key (0600), alerts; /models: the package to serve (mount read-only).
VOLUME ["/data", "/models"]
USER 10001:10001
EXPOSE 3000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["node", "deploy/healthcheck.mjs"]
# Plain HTTP on the container's interface, allowed explicitly: the container is meant to sit on a private
# network behind the TLS-terminating proxy (docker-compose.yml); nothing else should reach port 3000.
# No password is baked in: TWIN_ADMIN_PASSWORD from the environment, or one is generated and printed once.
ENTRYPOINT ["node", "dist/local/start.mjs", "--edge", "--model", "/models"]
# Behind that proxy: client addresses from X-Forwarded-For; set TWIN_PUBLIC_URL to the box's https:// URL.
CMD ["--host", "0.0.0.0", "--allow-insecure-http", "--trust-proxy"]
