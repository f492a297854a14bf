#!/usr/bin/env node
// The `deploy_server` executable: registers tsx so the TypeScript sources run as they are.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('./main.ts');
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
