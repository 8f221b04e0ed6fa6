// `node:http` for the Lambda bundles, taken from node's own module table instead of imported as an ES module.
// An ES import of node:http makes node build the module's ES facade, which reads every export, and Node 22's
// lazy `WebSocket`, `CloseEvent` and `MessageEvent` getters then load undici: ~20-100 ms of a cold start for
// classes nothing here uses (docs/performance.md, "Cold start"). esbuild aliases `http` and `node:http` to
// this file (infra/build/lambda-bundle.ts, `builtinShims`); process.getBuiltinModule is Node >= 22.3 / 20.16.
module.exports = process.getBuiltinModule('node:http');
