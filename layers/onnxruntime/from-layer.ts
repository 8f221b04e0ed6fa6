import { createRequire } from 'node:module';

/**
 * Replaces `onnxruntime-node` in the bundles of functions that infer (infra/constructs/twin-function.ts). The
 * package comes from the layer, /opt/nodejs/node_modules, which Lambda puts on NODE_PATH. Lambda's Node also
 * resolves ES `import`s through NODE_PATH, upstream Node does not; CommonJS resolution honours NODE_PATH in
 * both, so the package is loaded with `require` and the bundle runs the same under Lambda and under the
 * Lambda-layout test (test/infra/bundles.test.ts). Exports mirror what functions/core uses, like unavailable.ts.
 */
type Ort = typeof import('onnxruntime-node');

// The name is a variable so esbuild leaves this call alone (the alias would otherwise point it back here).
const packageName = 'onnxruntime-node';
const ort = createRequire(import.meta.url)(packageName) as Ort;

export const InferenceSession = ort.InferenceSession;
export const Tensor = ort.Tensor;
