#!/usr/bin/env node
// `deploy_server` from the TypeScript sources, compiled on the fly by tsx: for working on the code
// without rebuilding. What users (and the tests) run is the build, dist/deploy_server.js.
import { register } from 'tsx/esm/api';

register();
await (await import('./entry.ts')).main();
