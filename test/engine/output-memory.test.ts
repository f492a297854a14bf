// Issue 12, item 9: a build printing hundreds of megabytes costs bounded memory — the remote
// command's result keeps only the end of its output, and a run's event history is bounded in bytes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { RunEvents, HISTORY_OUTPUT_BYTES } from '../../src/engine/events.ts';
import { createOutputSink } from '../../src/engine/output-sink.ts';
import { SshHost } from '../../src/transport/ssh/ssh-host.ts';
import { createSshFiles } from '../../src/transport/ssh/ssh-files.ts';
import { KEPT_OUTPUT_CHARS } from '../../src/transport/output-tail.ts';
import { fileSshdHarness } from '../helpers/sshd.ts';

test('a run\'s event history is bounded in bytes: the newest output lines are kept, every status event too', () => {
  const events = new RunEvents();
  events.track(1);
  events.emit({ type: 'run', run_id: 1, app: 'a', host: 'h', status: 'running' });
  const line = 'y'.repeat(8 * 1024);
  // 20,000 lines of 8 KiB: 160 MB, which a count of events (the old bound) would all keep.
  for (let i = 0; i < 20_000; i++) {
    if (i % 5000 === 0) events.emit({ type: 'step', run_id: 1, step: `s${i}`, status: 'running' });
    events.emit({ type: 'output', run_id: 1, step: 's', line: `${i} ${line}` });
  }
  events.emit({ type: 'run', run_id: 1, app: 'a', host: 'h', status: 'success' });
  const { replay, stop } = events.watchRun(1, () => undefined)!;
  stop();
  const output = replay.filter((event) => event.type === 'output');
  const bytes = output.reduce((sum, event) => sum + event.line.length, 0);
  assert.ok(bytes <= HISTORY_OUTPUT_BYTES, `${bytes} bytes of output kept`);
  assert.ok(bytes >= HISTORY_OUTPUT_BYTES / 2, `only ${bytes} bytes of output kept`);
  assert.match(output.at(-1)!.line, /^19999 /);
  assert.deepEqual(replay.filter((event) => event.type !== 'output').map((event) => (event.type === 'step' ? event.step : event.status)), ['running', 's0', 's5000', 's10000', 's15000', 'success']);
});

/** A full garbage collection, without --expose-gc on the test runner's command line. */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

const { skip, harness } = fileSshdHarness();

test('a remote command printing 160 MiB: streamed whole, the result keeps its end, memory stays bounded', { skip }, async () => {
  const host = await SshHost.connect(harness().alias, { home: harness().home, connectTimeoutMs: 5000, files: createSshFiles() });
  try {
    const MiB = 1024 * 1024;
    const total = 160 * MiB;
    // What a step does with remote output: the output sink (masked lines, the tail for the database)
    // and the executor's events (history for late watchers).
    const events = new RunEvents();
    events.track(7);
    const sink = createOutputSink((text) => text, (line) => events.emit({ type: 'output', run_id: 7, step: 'build', line }));
    collectGarbage();
    const baseline = process.memoryUsage().rss;
    const heapBefore = process.memoryUsage().heapUsed;
    let peak = baseline;
    let streamed = 0;
    let chunks = 0;
    const result = await host.exec(
      { name: 'build', command: `head -c ${total} /dev/zero | tr '\\0' x | fold -w 199; echo; echo done >&2` },
      {
        onOutput: (chunk) => {
          streamed += chunk.length;
          sink.write(chunk);
          if (++chunks % 64 === 0) peak = Math.max(peak, process.memoryUsage().rss);
        },
      },
    );
    peak = Math.max(peak, process.memoryUsage().rss);
    sink.close();
    assert.equal(result.code, 0, result.stderr);
    // 160 MiB of x's plus a newline every 199.
    assert.equal(streamed, total + Math.ceil(total / 199) + 'done\n'.length);
    assert.ok(result.stdout.length <= KEPT_OUTPUT_CHARS, `result.stdout holds ${result.stdout.length} characters`);
    assert.match(result.stdout, /x+\n$/);
    assert.equal(result.stderr, 'done\n');
    const { replay, stop } = events.watchRun(7, () => undefined)!;
    stop();
    assert.ok(replay.reduce((sum, event) => sum + (event.type === 'output' ? event.line.length : 0), 0) <= HISTORY_OUTPUT_BYTES);
    // What is still held once the command is over (its result, the history): a few MiB at most.
    collectGarbage();
    const held = (process.memoryUsage().heapUsed - heapBefore) / MiB;
    assert.ok(held < 16, `${held.toFixed(0)} MiB of heap still held after 160 MiB of output`);
    // Generous, as garbage comes and goes: the peak stays well below the output's own size.
    const grown = (peak - baseline) / MiB;
    console.log(`output-memory: RSS grew by ${grown.toFixed(0)} MiB at its peak, ${held.toFixed(1)} MiB of heap held after`);
    assert.ok(grown < 128, `RSS grew by ${grown.toFixed(0)} MiB while 160 MiB of output streamed`);
    assert.ok(result.stdout.length > 0 && replay.length > 0); // both still referenced while measured
  } finally {
    await host.close();
  }
});
