// The `deploy_server` process: the command line, the process's streams and environment, the exit code.
// Built into dist/app.cjs, which dist/deploy_server.js loads and runs `main()` of (scripts/build.js, run
// by `npm ci` through `prepare`); src/cli/bin.js runs this file from the sources instead, through tsx.
import { runCli } from './main.ts';

// The build's warm-up runs commands in its own process through this.
export { runCli };

export async function main(): Promise<void> {
  const code = await runCli(process.argv.slice(2), {
    stdin: process.stdin,
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    cwd: process.cwd(),
    colorDepth: 1,
  });
  // Exit now: a span exporter still retrying a dead collector must not keep the process alive
  // (stdout and stderr are synchronous on Linux for files and pipes, so nothing printed is lost).
  process.exit(code);
}
