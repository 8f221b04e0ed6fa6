/** The Twinserve SDK: `import { TwinClient } from './client/index.js'`. See client/sdk.ts and README.md. */
export * from './sdk.js';
