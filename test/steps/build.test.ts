// The systemd build's worktree fetch: an origin that hangs costs config.gitFetchTimeoutMs, not the step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { trace, ROOT_CONTEXT } from '@opentelemetry/api';
import { localBuild } from '../../src/steps/build.ts';
import { loadConfig } from '../../src/support/config.ts';
import { parseTarget } from '../../src/domain/target-schema.ts';
import type { StepContext } from '../../src/engine/pipeline.ts';
import { makeTempDir } from '../helpers/cli.ts';
import { startSilentListener } from '../helpers/silent-listener.ts';

test('localBuild at a commit: a stalled origin fails the fetch after gitFetchTimeoutMs and the build goes on with the commits here', { timeout: 20_000 }, async (t) => {
  const origin = await startSilentListener(t);
  // Registered before the registry's removal: the worktree clean-up runs git in the registry.
  const cleanups: (() => Promise<void>)[] = [];
  t.after(async () => {
    for (const cleanup of cleanups) await cleanup();
  });
  const registry = makeTempDir(t);
  const git = (...args: string[]) => execFileSync('git', ['-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd: registry, encoding: 'utf8' }).trim();
  git('init', '-q', '-b', 'main');
  fs.mkdirSync(path.join(registry, 'apps/hello'), { recursive: true });
  fs.writeFileSync(path.join(registry, 'apps/hello/hello'), '#!/bin/sh\necho hi\n');
  git('add', '-A');
  git('commit', '-q', '-m', 'hello');
  git('remote', 'add', 'origin', `git://127.0.0.1:${origin.port}/registry.git`);
  const commit = git('rev-parse', 'HEAD');

  let output = '';
  const context = {
    results: {},
    signal: new AbortController().signal,
    output: (chunk: string) => (output += chunk),
    telemetry: ROOT_CONTEXT,
    record: async () => undefined,
    deploy: {
      runId: 1, target: parseTarget({ app: 'hello', host: 'h' }), trigger: 'webhook', ref: 'refs/heads/main', commit,
      config: { ...loadConfig({}), registryRoot: registry, gitFetchTimeoutMs: 700 },
      rollbackTo: null, pastRuns: async () => [], remote: async () => { throw new Error('no host'); },
      exclusive: (_key: string, work: () => Promise<unknown>) => work(),
      atEnd: (cleanup: () => Promise<void>) => cleanups.push(cleanup),
      tracer: trace.getTracer('test'), redact: (text: string) => text,
    },
  } as unknown as StepContext;

  const started = performance.now();
  const artifact = await localBuild(context);
  const tookMs = performance.now() - started;
  assert.ok(tookMs < 5000, `took ${Math.round(tookMs)} ms`);
  assert.ok(origin.connections() >= 1, 'the fetch reached the origin');
  assert.match(output, /git fetch timed out after 0\.7s: building from the commits already here/);
  assert.equal(fs.readFileSync(artifact.artifactPath, 'utf8'), '#!/bin/sh\necho hi\n');
});
