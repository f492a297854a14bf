#!/usr/bin/env node
// The `deploy_server` process: the command line, the process's streams and environment, the exit code.
// Built to dist/deploy_server.js (scripts/build.js, run by `npm ci` through `prepare`); src/cli/bin.js
// runs this file from the sources instead, through tsx.
import { runCli } from './main.ts';

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
