import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type Metafile } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lambdaBundleOptions } from '../../infra/build/lambda-bundle.js';
import { functionDefs } from '../../infra/functions.js';
import { functionNames, type FunctionName } from '../../functions/routes.js';

/**
 * What each function's bundle carries follows from what the function does (infra/functions.ts), as its IAM
 * grants do: a handler reaches only the service providers it names (functions/services/*.ts), so a client or
 * service another function needs must not ride along. Read from esbuild's metafile (the modules that put
 * bytes into the output), not from a size threshold: a rule names the module and the function.
 */

let scratch: string;
const carried = {} as Record<FunctionName, Set<string>>;

/**
 * The modules (source files and packages' files) that put bytes into a bundle, relative to the project
 * (a package's files as `node_modules/<package>/...`, wherever node_modules really is).
 */
function modulesOf(metafile: Metafile): Set<string> {
  const [output] = Object.values(metafile.outputs);
  return new Set(Object.entries(output!.inputs).flatMap(([path, input]) => (input.bytesInOutput > 0 ? [path.replace(/^.*?(?=node_modules\/)/, '')] : [])));
}

function carries(fn: FunctionName, modulePrefix: string): boolean {
  return [...carried[fn]].some((path) => path.startsWith(modulePrefix));
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'twinserve-bundle-contents-'));
  for (const fn of functionNames) {
    const result = await build({ ...lambdaBundleOptions(fn, join(scratch, `${fn}.mjs`)), metafile: true, write: false });
    carried[fn] = modulesOf(result.metafile);
  }
}, 120_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('a function bundle carries what the function uses', () => {
  it.each(functionNames)('%s: the KMS client only if it signs tokens or publishes their keys', (fn) => {
    expect(carries(fn, 'node_modules/@aws-sdk/client-kms/')).toBe(functionDefs[fn].signingKey !== undefined);
  });

  it.each(functionNames)('%s: the S3 client only if it reads the model bucket', (fn) => {
    expect(carries(fn, 'node_modules/@aws-sdk/client-s3/')).toBe(functionDefs[fn].modelBucket !== undefined);
  });

  it.each(functionNames)('%s: the S3 presigner only if it publishes models (presigned uploads and downloads)', (fn) => {
    expect(carries(fn, 'node_modules/@aws-sdk/s3-request-presigner/')).toBe(functionDefs[fn].modelBucket === 'readwrite');
  });

  it.each(functionNames)('%s: the ONNX readers (onnx-proto, the graph check, the model) only if it loads models', (fn) => {
    // functions/contracts.ts is in every bundle: it takes request schemas and limits from modules that hold
    // no model code (functions/core/models/requests.ts, functions/core/twin/limits.ts).
    for (const module of ['node_modules/onnx-proto/', 'functions/core/models/graph-check.ts', 'functions/core/twin/model.ts']) {
      expect(carries(fn, module), module).toBe(functionDefs[fn].inference);
    }
  });

  it.each(['predict', 'batch'] as const)('%s: the twin, alert publishing and the stores, and none of the other functions\' services', (fn) => {
    // What it must carry: serving, and SNS, since predictions publish alerts when a topic is configured.
    expect(functionDefs[fn].alerts).toBe(true);
    for (const module of ['functions/core/twin/service.ts', 'functions/services/twin.ts', 'node_modules/@aws-sdk/client-sns/', 'node_modules/@aws-sdk/client-dynamodb/']) {
      expect(carries(fn, module), module).toBe(true);
    }
    // What it must not: the providers and adapters of login, keys, users, audit queries, the model lifecycle,
    // the Open Inference Protocol and insight.
    for (const module of [
      'functions/services/access.ts',
      'functions/services/lifecycle.ts',
      'functions/adapters/kms-token-signer.ts',
      'functions/adapters/key-file-signing-keys.ts',
      'functions/adapters/s3-package-transfer.ts',
      'functions/core/insight/service.ts',
    ]) {
      expect(carries(fn, module), module).toBe(false);
    }
  });
});
