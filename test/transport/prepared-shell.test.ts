// The shell a channel opened ahead runs, and the one a command sent in its exec request runs: exact
// text, and a round trip through real shells.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { commandShellScript, preparedShellScript } from '../../src/transport/ssh/prepared-shell.ts';

const END = '__end_0123';
const script = preparedShellScript('__pgid=', END);

test('the prepared shell: says its pid, reads lines up to the end marker, evaluates them', () => {
  assert.equal(
    script,
    'echo __pgid=$$ >&2; __deploy_command=; ' +
      'while :; do IFS= read -r __deploy_line || exit 0; [ "$__deploy_line" = __end_0123 ] && break; __deploy_command="$__deploy_command$__deploy_line\n"; done; ' +
      'unset __deploy_line; eval "$__deploy_command"',
  );
});

for (const shell of ['sh', 'bash']) {
  const run = (input: string) => spawnSync(shell, ['-c', script], { input, encoding: 'utf8' });

  test(`${shell}: a multi-line command with quotes runs once, its stdin is what follows the end marker, its exit status is the shell's`, () => {
    const command = `printf '%s|' "it's" '$HOME' "a  b"\necho\ncat\nexit 7`;
    const result = run(`${command}\n${END}\nline one\n${END}\nlast`);
    assert.equal(result.status, 7);
    assert.equal(result.stdout, `it's|$HOME|a  b|\nline one\n${END}\nlast`);
    assert.match(result.stderr, /^__pgid=\d+\n$/);
  });

  test(`${shell}: a channel closed before the end marker runs nothing`, () => {
    const result = run('touch /tmp/should-not-exist-prepared-shell; echo ran\n');
    assert.equal(result.status, 0);
    assert.equal(result.stdout, '');
  });
}

test('the shell of a command in its exec request: says its pid, evaluates the command quoted', () => {
  assert.equal(commandShellScript('__pgid=', `echo "it's"\nexit 7`), `echo __pgid=$$ >&2; eval 'echo "it'\\''s"\nexit 7'`);
});

for (const shell of ['sh', 'bash']) {
  test(`${shell}: a command in the exec request runs as a prepared shell would run it, its stdin the channel's`, () => {
    const command = `printf '%s|' "it's" '$HOME' "a  b"\necho\ncat\nexit 7`;
    const result = spawnSync(shell, ['-c', commandShellScript('__pgid=', command)], { input: `line one\n${END}\nlast`, encoding: 'utf8' });
    assert.equal(result.status, 7);
    assert.equal(result.stdout, `it's|$HOME|a  b|\nline one\n${END}\nlast`);
    assert.match(result.stderr, /^__pgid=\d+\n$/);
  });
}
