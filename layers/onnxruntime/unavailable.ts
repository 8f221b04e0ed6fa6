/**
 * Stands in for onnxruntime-node in the bundles of functions that do not infer (infra/functions.ts
 * `inference: false`). Every handler builds the same services, so the core's static
 * `import * as ort from 'onnxruntime-node'` is in every bundle; without the layer that import would fail at
 * cold start. These functions never create a session, and if one ever did, it fails with this message rather
 * than a missing-module error. Exports mirror what functions/core uses (esbuild reports any new name).
 */
function unavailable(what: string): never {
  throw new Error(`${what}: onnxruntime-node is not deployed with this function; set inference: true for it in infra/functions.ts`);
}

export const InferenceSession = {
  create(): never {
    return unavailable('InferenceSession.create');
  },
};

export class Tensor {
  constructor() {
    unavailable('new Tensor');
  }
}
