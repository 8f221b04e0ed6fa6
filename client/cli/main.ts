/** The `twin` executable: runs the CLI with the real process's IO and exits with its code. */
import { run } from '../cli.js';
import { processIo } from './process-io.js';

process.exitCode = await run(process.argv.slice(2), processIo());
