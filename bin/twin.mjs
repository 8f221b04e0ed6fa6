#!/usr/bin/env node
// The `twin` command (package.json "bin"): registers tsx's loader, then runs client/cli.ts.
import { register } from 'tsx/esm/api';

register();
const { run, processIo } = await import('../client/cli.ts');
process.exitCode = await run(process.argv.slice(2), processIo());
