import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { definePipeline } from '../../src/engine/pipeline.ts';
import { ATTR } from '../../src/support/telemetry.ts';
import { createTestExecutor } from '../helpers/engine.ts';

const noop = async () => undefined;

test('a span per run with a child span per step; the failing step and the run carry the error; trace id stored', async (t) => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  t.after(() => provider.shutdown());
  const pipeline = definePipeline({
    sshCheck: { run: noop },
    build: { run: noop },
    rsync: { run: async () => { throw new Error('rsync: connection unexpectedly closed (token s3cr3t-value)'); }, needs: ['sshCheck', 'build'] },
    restart: { run: noop, needs: ['rsync'] },
  });
  const { executor, run } = await createTestExecutor(t, {
    pipeline,
    tracer: provider.getTracer('test'),
    targets: [{ app: 'my_app', host: 'vps1', env: { TOKEN: 's3cr3t-value' } }],
  });
  const { runId, done } = await executor.requestDeploy({ app: 'my_app', host: 'vps1', trigger: 'webhook', ref: 'refs/heads/main', commit: 'abc123' });
  await done;

  const spans = exporter.getFinishedSpans();
  const root = spans.find((s) => s.name === 'deploy my_app@vps1')!;
  assert.ok(root, 'run span');
  assert.equal(root.parentSpanContext, undefined);
  assert.deepEqual(root.attributes, {
    [ATTR.app]: 'my_app',
    [ATTR.host]: 'vps1',
    [ATTR.strategy]: 'systemd',
    [ATTR.trigger]: 'webhook',
    [ATTR.runId]: runId,
    [ATTR.ref]: 'refs/heads/main',
    [ATTR.revision]: 'abc123',
  });
  assert.equal(root.status.code, SpanStatusCode.ERROR);
  const children = spans.filter((s) => s !== root);
  assert.deepEqual(children.map((s) => s.name).sort(), ['step build', 'step rsync', 'step sshCheck'], 'skipped steps never ran: no span');
  for (const child of children) {
    assert.equal(child.parentSpanContext?.spanId, root.spanContext().spanId);
    assert.equal(child.spanContext().traceId, root.spanContext().traceId);
    assert.equal(child.attributes[ATTR.step], child.name.slice('step '.length));
  }
  const failed = children.find((s) => s.name === 'step rsync')!;
  assert.equal(failed.status.code, SpanStatusCode.ERROR);
  assert.equal(failed.status.message, 'rsync: connection unexpectedly closed (token ***)');
  assert.equal(failed.events[0].name, 'exception');
  assert.equal(children.find((s) => s.name === 'step build')!.status.code, SpanStatusCode.UNSET);
  assert.ok(!JSON.stringify(spans.map((s) => [s.attributes, s.events, s.status])).includes('s3cr3t-value'));
  assert.equal((await run(runId)).trace_id, root.spanContext().traceId);
});

test('without an SDK, spans are no-ops and no trace id is stored', async (t) => {
  const { executor, run } = await createTestExecutor(t, { pipeline: definePipeline({ a: { run: noop } }) });
  const { runId, done } = await executor.requestDeploy({ app: 'app', host: 'h1', trigger: 'manual' });
  assert.equal((await done).status, 'success');
  assert.equal((await run(runId)).trace_id, null);
});
