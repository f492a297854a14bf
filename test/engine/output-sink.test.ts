// The live output of a step (src/engine/output-sink.ts): masked line by line as it comes, and never
// leaking a secret in two pieces — not when the forced flush of an over-long line would cut it, not
// when the secret itself spans lines.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createOutputSink } from '../../src/engine/output-sink.ts';
import { OUTPUT_LIMIT_BYTES } from '../../src/engine/run-store.ts';
import { createRedactor } from '../../src/support/redact.ts';

const SECRET = 'tok-4f9e2b7c1d8a6e3f';

function collect(secrets: string[], lineLimit?: number) {
  const lines: string[] = [];
  const sink = createOutputSink(createRedactor(secrets), (line) => lines.push(line), lineLimit);
  return { sink, lines };
}

/** Every piece of `secret` of `min` characters or more that shows in `text`. */
function leaks(text: string, secret: string, min = 6): string[] {
  const found: string[] = [];
  for (let i = 0; i + min <= secret.length; i++) if (text.includes(secret.slice(i, i + min))) found.push(secret.slice(i, i + min));
  return found;
}

test('complete lines are masked and passed on as they come; the last partial line at close', () => {
  const { sink, lines } = collect([SECRET]);
  sink.write(`one ${SECRET}\ntw`);
  assert.deepEqual(lines, ['one ***']);
  sink.write('o\n\nthree');
  assert.deepEqual(lines, ['one ***', 'two', '']);
  assert.equal(sink.close(), `one ***\ntwo\n\nthree`);
  assert.deepEqual(lines, ['one ***', 'two', '', 'three']);
});

test('a line longer than the limit is flushed before its end (output without newlines cannot grow for ever)', () => {
  const { sink, lines } = collect([SECRET]);
  for (let i = 0; i < 10; i++) sink.write('#'.repeat(50_000) + '\r');
  assert.equal(lines.length, 5, 'flushed every time the line passed the limit, before any newline');
  assert.ok(lines.every((line) => line.length <= OUTPUT_LIMIT_BYTES + 50_000));
  sink.close();
  assert.equal(lines.join('').length, 10 * 50_001);
});

test('a secret cut by the forced 64 KiB flush is held back and masked whole, wherever the cut falls', () => {
  for (let offset = 1; offset < SECRET.length; offset++) {
    const { sink, lines } = collect([SECRET]);
    const filler = 'x'.repeat(OUTPUT_LIMIT_BYTES + 1 - offset);
    sink.write(filler + SECRET.slice(0, offset)); // past the limit, the secret's start at the very end
    sink.write(SECRET.slice(offset) + ' done\n');
    sink.close();
    const live = lines.join('\n');
    assert.deepEqual(leaks(live, SECRET), [], `cut after ${offset} characters: ${lines.map((l) => l.slice(-30)).join(' | ')}`);
    assert.equal(lines.join(''), `${filler}*** done`);
  }
});

test('a secret containing newlines is masked across the lines it spans, however the output is chunked', () => {
  const secret = 'BEGIN-KEY\nMIIEvQIBADANBg\nEND-KEY';
  const text = `loading key\nkey: ${secret} loaded\nready\n`;
  for (let cut = 0; cut <= text.length; cut++) {
    const { sink, lines } = collect([secret]);
    sink.write(text.slice(0, cut));
    sink.write(text.slice(cut));
    sink.close();
    assert.deepEqual(lines, ['loading key', 'key: *** loaded', 'ready'], `chunked at ${cut}`);
  }
  // One character at a time: nothing of it ever leaves, and the lines before it are not held up.
  const { sink, lines } = collect([secret]);
  for (const ch of text) {
    sink.write(ch);
    for (const line of lines) assert.ok(!/BEGIN-KEY|MIIEvQIBADANBg|END-KEY/.test(line), line);
  }
  assert.deepEqual(lines, ['loading key', 'key: *** loaded', 'ready']);
  assert.equal(sink.close(), 'loading key\nkey: *** loaded\nready\n');
});

test('text held back because it might begin a secret is let go as soon as it cannot', () => {
  const { sink, lines } = collect([SECRET]);
  sink.write('token: tok-4f9e\n'); // the start of the secret, then a newline: not the secret
  assert.deepEqual(lines, ['token: tok-4f9e']);
  sink.write('partial tok-');
  sink.write('other\n');
  assert.deepEqual(lines, ['token: tok-4f9e', 'partial tok-other']);
  sink.write('x'.repeat(OUTPUT_LIMIT_BYTES + 10) + 'tok-4f');
  assert.equal(lines.at(-1), 'x'.repeat(OUTPUT_LIMIT_BYTES + 10), 'the forced flush keeps back only the possible start of the secret');
  sink.close();
  assert.equal(lines.at(-1), 'tok-4f');
});

test('the forced flush cuts after a blank when there is one near, so a token masked by its shape is not cut in two', () => {
  const token = `ghp_${'A1b2C3d4'.repeat(5)}`;
  const { sink, lines } = collect([]);
  const filler = 'y'.repeat(OUTPUT_LIMIT_BYTES - 10);
  sink.write(`${filler} pushing with ${token.slice(0, 20)}`); // past the limit, in the middle of the token
  sink.write(`${token.slice(20)} and more`);
  sink.close();
  assert.ok(lines.length >= 2, 'the forced flush happened');
  for (const line of lines) assert.ok(!/A1b2C3d4/.test(line), line.slice(-60));
  assert.equal(lines.join(''), `${filler} pushing with *** and more`);
});
