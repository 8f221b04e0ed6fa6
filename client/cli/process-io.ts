/** The real process's side of the CLI's IO seam. */
import { CliError, exitCodes, foreground, type CliIo } from './context.js';

/** The real process's IO: stdio, env, a no-echo prompt on a terminal, Ctrl-C ends --follow. */
export function processIo(): CliIo {
  const controller = new AbortController();
  process.once('SIGINT', () => {
    // Ends a --follow cleanly; anything else stops shortly after, as Ctrl-C should (`twin edge` waits for its twin).
    controller.abort();
    if (!foreground.child) setTimeout(() => process.exit(130), 500).unref();
  });
  return {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
    readStdin: async () => {
      const chunks: Buffer[] = [];
      for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks).toString('utf8');
    },
    ...(process.stdin.isTTY && process.stderr.isTTY ? { promptSecret } : {}),
    stderrIsTTY: Boolean(process.stderr.isTTY),
    signal: controller.signal,
    cwd: process.cwd(),
  };
}

async function promptSecret(prompt: string): Promise<string> {
  process.stderr.write(prompt);
  const stdin = process.stdin;
  stdin.setRawMode?.(true);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise((done, fail) => {
    let value = '';
    const onData = (chunk: string) => {
      for (const c of chunk) {
        if (c === '\r' || c === '\n') {
          finish();
          done(value);
          return;
        }
        if (c === '\u0003') {
          finish();
          fail(new CliError('cancelled', exitCodes.usage));
          return;
        }
        if (c === '\u007f' || c === '\b') value = value.slice(0, -1);
        else value += c;
      }
    };
    const finish = () => {
      stdin.off('data', onData);
      stdin.setRawMode?.(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    stdin.on('data', onData);
  });
}