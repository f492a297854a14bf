import { test } from 'node:test';
import assert from 'node:assert/strict';
import { definePipeline, describePipeline, findCycle, plannedRemoteCommands, type DeployContext, type StepSpec } from '../../src/engine/pipeline.ts';
import { parseTarget } from '../../src/domain/target-schema.ts';
import { pipelines } from '../../pipelines/index.ts';
import { runCliInProcess } from '../helpers/cli.ts';

const noop = async () => undefined;

test('a cycle is rejected at load, naming it', () => {
  assert.throws(
    () => definePipeline({ a: { run: noop, needs: ['b'] }, b: { run: noop, needs: ['a'] } }),
    { name: 'PipelineError', message: 'pipeline has a cycle: a → b → a' },
  );
  assert.throws(
    () => definePipeline({ start: { run: noop }, a: { run: noop, needs: ['start', 'c'] }, b: { run: noop, needs: ['a'] }, c: { run: noop, needs: ['b'] } }),
    { message: 'pipeline has a cycle: a → c → b → a' },
  );
  assert.throws(() => definePipeline({ self: { run: noop, needs: ['self'] } }), { message: 'pipeline has a cycle: self → self' });
});

test('a need that names no step is rejected at load too (for pipelines written in plain JS)', () => {
  const steps = { a: { run: noop, needs: ['ghost'] } } as unknown as Record<string, StepSpec<'a'>>;
  assert.throws(() => definePipeline(steps), { message: 'step "a" needs "ghost", which is not a step of this pipeline' });
});

test('findCycle on acyclic graphs: a diamond has none', () => {
  const diamond = { top: {}, left: { needs: ['top'] }, right: { needs: ['top'] }, bottom: { needs: ['left', 'right'] } };
  assert.equal(findCycle(diamond as unknown as Record<string, StepSpec>), null);
});

test('the three strategy pipelines have the steps and edges of SPEC §3, and a compensation path', () => {
  assert.deepEqual(describePipeline(pipelines.systemd.deploy), {
    steps: [
      { id: 'sshCheck', needs: [] },
      { id: 'build', needs: [] },
      { id: 'rsync', needs: ['sshCheck', 'build'] },
      { id: 'chmod', needs: ['rsync'] },
      { id: 'restart', needs: ['chmod'] },
      { id: 'healthCheck', needs: ['restart'] },
      { id: 'rollback', needs: ['rsync'], onFailureOf: ['chmod', 'restart', 'healthCheck'] },
      { id: 'restartPrevious', needs: ['rollback'] },
      { id: 'healthCheckPrevious', needs: ['restartPrevious'] },
    ],
    edges: [
      ['sshCheck', 'rsync'], ['build', 'rsync'], ['rsync', 'chmod'], ['chmod', 'restart'], ['restart', 'healthCheck'],
      ['rsync', 'rollback'], ['rollback', 'restartPrevious'], ['restartPrevious', 'healthCheckPrevious'],
    ],
    failureEdges: [['chmod', 'rollback'], ['restart', 'rollback'], ['healthCheck', 'rollback']],
  });
  assert.deepEqual([...pipelines.systemd.deploy.compensation], ['rollback', 'restartPrevious', 'healthCheckPrevious']);
  assert.deepEqual(describePipeline(pipelines['systemd-remote'].deploy).edges.slice(0, 4), [
    ['sshCheck', 'gitPull'], ['gitPull', 'build'], ['build', 'restart'], ['restart', 'healthCheck'],
  ]);
  assert.deepEqual(describePipeline(pipelines['docker-compose'].deploy).edges.slice(0, 4), [
    ['sshCheck', 'gitPull'], ['gitPull', 'pull'], ['pull', 'up'], ['up', 'healthCheck'],
  ]);
  assert.deepEqual(describePipeline(pipelines['systemd-remote'].deploy).failureEdges, [['build', 'rollback'], ['restart', 'rollback'], ['healthCheck', 'rollback']]);
  assert.deepEqual(describePipeline(pipelines['docker-compose'].deploy).failureEdges, [['pull', 'rollback'], ['up', 'rollback'], ['healthCheck', 'rollback']]);
  assert.deepEqual(describePipeline(pipelines.systemd.rollback).steps.map((s) => s.id), ['sshCheck', 'switchRelease', 'restart', 'healthCheck']);
});

test('pipelines show prints each DAG, and --json the same as data', async () => {
  const text = await runCliInProcess(['pipelines', 'show', 'systemd'], {});
  assert.equal(text.code, 0);
  assert.equal(
    text.stdout,
    [
      'systemd',
      '  sshCheck',
      '  build',
      '  rsync                ← sshCheck, build',
      '  chmod                ← rsync',
      '  restart              ← chmod',
      '  healthCheck          ← restart',
      '  rollback             ← rsync, if chmod or restart or healthCheck fails',
      '  restartPrevious      ← rollback',
      '  healthCheckPrevious  ← restartPrevious',
      '',
      'systemd (rollback runs)',
      '  sshCheck',
      '  switchRelease  ← sshCheck',
      '  restart        ← switchRelease',
      '  healthCheck    ← restart',
      '',
    ].join('\n'),
  );
  const json = await runCliInProcess(['pipelines', 'show', '--json'], {});
  const graphs = JSON.parse(json.stdout);
  assert.deepEqual(graphs.map((g: { strategy: string; pipeline: string }) => `${g.strategy} ${g.pipeline}`), [
    'systemd deploy', 'systemd rollback', 'systemd-remote deploy', 'systemd-remote rollback', 'docker-compose deploy', 'docker-compose rollback',
  ]);
  assert.deepEqual(graphs[4].steps.map((s: { id: string }) => s.id), ['sshCheck', 'gitPull', 'pull', 'up', 'healthCheck', 'rollback', 'upPrevious', 'healthCheckPrevious']);
  const bad = await runCliInProcess(['pipelines', 'show', 'k8s'], {});
  assert.equal(bad.code, 1);
  assert.equal(bad.stderr, 'error: unknown strategy "k8s": one of systemd, systemd-remote, docker-compose\n');
});

test('the commands a run plans on the host: the steps off the compensation path, for this target', () => {
  const plan = (strategy: keyof typeof pipelines, fields: Record<string, unknown>, rollback = false) =>
    plannedRemoteCommands(pipelines[strategy][rollback ? 'rollback' : 'deploy'], { target: parseTarget({ app: 'a', host: 'h', strategy, ...fields }) } as DeployContext);
  const http = { port: 8080, health: '/health' };
  // gitPull, build, restart; the HTTP health check is a tunnel, no command.
  assert.equal(plan('systemd-remote', { ...http, build_cmd: 'make' }), 3);
  assert.equal(plan('systemd-remote', { build_cmd: 'make' }), 4); // + systemctl is-active
  assert.equal(plan('systemd-remote', http), 2); // no build command: nothing to build
  // rsync (list, mkdir, switch, prune), chmod, restart.
  assert.equal(plan('systemd', http), 6);
  assert.equal(plan('docker-compose', {}), 4); // gitPull, pull, up, compose ps
  // rollback runs: choose (2), then as a deploy.
  assert.equal(plan('systemd', http, true), 3);
  assert.equal(plan('systemd-remote', { ...http, build_cmd: 'make' }, true), 4);
  assert.equal(plan('docker-compose', http, true), 3);
});
