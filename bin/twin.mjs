#!/usr/bin/env node
// The `twin` command (package.json "bin"): the built CLI (client/dist/cli/twin.js, `npm run build:client`).
try {
  await import('../client/dist/cli/twin.js');
} catch (error) {
  if (error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes('client/dist/cli/twin.js')) {
    process.stderr.write('twin: the CLI is not built: run `npm run build` in the Twinserve checkout\n');
    process.exitCode = 1;
  } else {
    throw error;
  }
}
