// The shells SshHost opens ahead of its commands, counted on the host: two ahead while the planned
// commands last, none beyond them; one ahead when the caller plans nothing. The first command, right
// after connecting, goes in its channel's exec request instead of waiting for a shell.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { SshHost } from '../../src/transport/ssh/ssh-host.ts';
import { createSshFiles } from '../../src/transport/ssh/ssh-files.ts';
import { fileSshdHarness, processAlive } from '../helpers/sshd.ts';
import { until } from '../helpers/engine.ts';

const { skip, harness } = fileSshdHarness();
/** A host whose account runs no shell of ours (as a nologin account would say, only for our shells: the harness's own check still logs in). */
const refusing = fileSshdHarness({
  sshdConfig: ['ForceCommand case "$SSH_ORIGINAL_COMMAND" in *__deploy_server_pgid=*) echo "This account is currently not available." >&2; exit 1;; esac; eval "$SSH_ORIGINAL_COMMAND"'],
});
/** A host whose login prints a warning on stderr without a newline before every command (as a profile line may). */
const chatty = fileSshdHarness({ sshdConfig: ['ForceCommand printf "warning: no newline" >&2; eval "$SSH_ORIGINAL_COMMAND"'] });

/**
 * The shells of this connection alive on the host (the one running this command included), once
 * those opening meanwhile have had time to start: sshd forks every channel's shell from the
 * connection's own process, this shell's parent.
 */
const COUNT_SHELLS = { name: 'count shells', command: 'sleep 0.5; pgrep -c -P $PPID' };
const TRUE = { name: 'true', command: 'true' };

async function shellsSeenBy(commands: number | undefined, before: number): Promise<number> {
  const host = await SshHost.connect(harness().alias, { home: harness().home, connectTimeoutMs: 5000, commands, files: createSshFiles() });
  try {
    for (let i = 0; i < before; i++) assert.equal((await host.exec(TRUE)).code, 0);
    const result = await host.exec(COUNT_SHELLS);
    assert.equal(result.code, 0, result.stderr);
    return Number(result.stdout.trim());
  } finally {
    await host.close();
  }
}

test('prepared shells: two ahead within the planned commands, none past the last one, one ahead without a plan', { skip }, async () => {
  assert.equal(await shellsSeenBy(5, 0), 3, 'the first of five commands: itself and two ahead');
  assert.equal(await shellsSeenBy(3, 1), 2, 'the second of three: itself and the last');
  assert.equal(await shellsSeenBy(3, 2), 1, 'the last planned command: no shell is opened for nothing');
  assert.equal(await shellsSeenBy(1, 1), 2, 'past the plan (a rollback path): one ahead again');
  assert.equal(await shellsSeenBy(undefined, 1), 2, 'no plan (status, setup): one ahead, as ever');
});

/** Prints how many times this shell's command line holds a prepared shell's end marker (0: the command came in the exec request). */
const END_MARKERS_IN_CMDLINE = `tr '\\0' '\\n' < /proc/$$/cmdline | grep -c '__deploy_server_en[d]_'`;

test('the first command goes in its exec request, with its exit status, both streams and its stdin; the next one in a prepared shell', { skip }, async () => {
  const host = await SshHost.connect(harness().alias, { home: harness().home, connectTimeoutMs: 5000, commands: 3, files: createSshFiles() });
  try {
    const output: string[] = [];
    const first = await host.exec(
      { name: 'first', command: `echo "it's out"\necho err >&2; cat\n${END_MARKERS_IN_CMDLINE}; exit 3`, stdin: 'in\n' },
      { onOutput: (text) => output.push(text) },
    );
    assert.deepEqual(first, { code: 3, stdout: "it's out\nin\n0\n", stderr: 'err\n' });
    assert.equal(output.join('').split('').sort().join(''), "it's out\nin\n0\nerr\n".split('').sort().join(''));
    const second = await host.exec({ name: 'second', command: END_MARKERS_IN_CMDLINE });
    assert.deepEqual(second, { code: 0, stdout: '1\n', stderr: '' });
  } finally {
    await host.close();
  }
});

test('a first command cancelled before its shell has said its pid is killed once it has', { skip }, async () => {
  const sleep = `sleep 30.${randomBytes(3).readUIntBE(0, 3)}`;
  const running = () => {
    try {
      return execFileSync('pgrep', ['-f', sleep], { encoding: 'utf8' }).trim() !== '';
    } catch {
      return false; // pgrep exits 1 when nothing matches
    }
  };
  const host = await SshHost.connect(harness().alias, { home: harness().home, connectTimeoutMs: 5000, commands: 3, files: createSshFiles() });
  const controller = new AbortController();
  const cancelled = new Error('cancelled');
  try {
    const exec = host.exec({ name: 'sleeps', command: sleep }, { signal: controller.signal });
    setImmediate(() => controller.abort(cancelled));
    await assert.rejects(exec, (error) => error === cancelled);
  } finally {
    await host.close();
  }
  // The command was sent with its channel's request, so it ran; close() waited for the kill.
  await until(() => !running(), 5000);
});

test('a first command cancelled while its exec request is on its way gets its real stdin: it is killed, or it ran as written, never with its input cut', { skip }, async () => {
  const file = path.join(harness().workDir, `config-${randomBytes(4).toString('hex')}`);
  const host = await SshHost.connect(harness().alias, { home: harness().home, connectTimeoutMs: 5000, commands: 3, files: createSshFiles() });
  const controller = new AbortController();
  try {
    const exec = host.exec({ name: 'write config', command: `cat > ${file}`, stdin: 'PORT=8080\n' }, { signal: controller.signal });
    queueMicrotask(() => controller.abort(new Error('cancelled')));
    await assert.rejects(exec, /cancelled/);
  } finally {
    await host.close();
  }
  // Before: its stdin was closed at once, and the file was left empty while the run said "cancelled".
  if (fs.existsSync(file)) assert.equal(fs.readFileSync(file, 'utf8'), 'PORT=8080\n');
});

test('a login that prints to stderr without a newline before the pid: the commands run, the text is their stderr, nothing hangs', { skip: chatty.skip }, async () => {
  const host = await SshHost.connect(chatty.harness().alias, { home: chatty.harness().home, connectTimeoutMs: 5000, commands: 3, files: createSshFiles() });
  try {
    for (const name of ['first', 'second']) {
      const result = await host.exec({ name, command: `echo ${name}` });
      assert.deepEqual({ ...result }, { code: 0, stdout: `${name}\n`, stderr: 'warning: no newline' });
    }
  } finally {
    await host.close();
  }
});

test('a first command whose quoted script would be too long for an exec request goes through a prepared shell', { skip }, async () => {
  // Under 32 K characters, but each quote becomes four bytes in the exec request's script: over the
  // 128 KiB that Linux allows one argument (sshd runs the script as `sh -c <script>`).
  const command = `echo ok #${"'".repeat(32_759)}`;
  const host = await SshHost.connect(harness().alias, { home: harness().home, connectTimeoutMs: 5000, commands: 3, files: createSshFiles() });
  try {
    const result = await host.exec({ name: 'quotes', command });
    assert.deepEqual([result.code, result.stdout, result.stderr], [0, 'ok\n', '']);
  } finally {
    await host.close();
  }
});

test('a first command cancelled while it runs: its process group is killed, the host can go on', { skip }, async () => {
  const pgidFile = path.join(harness().workDir, `first-${randomBytes(4).toString('hex')}.pgid`);
  const host = await SshHost.connect(harness().alias, { home: harness().home, connectTimeoutMs: 5000, commands: 3, files: createSshFiles() });
  const controller = new AbortController();
  try {
    const exec = host.exec(
      { name: 'sleeps', command: `echo $$ > ${pgidFile}; echo started; sleep 30 & sleep 30; wait` },
      { signal: controller.signal, onOutput: (text) => text.includes('started') && controller.abort(new Error('stop')) },
    );
    await assert.rejects(exec, /stop/);
    const pgid = Number(fs.readFileSync(pgidFile, 'utf8'));
    await until(() => !processAlive(pgid), 5000);
    assert.equal((await host.exec({ name: 'true', command: 'true' })).code, 0);
  } finally {
    await host.close();
  }
});

test('a shell that does not start fails the first command, not the connection: "cannot run commands on …" with its reason', { skip }, async () => {
  const host = await SshHost.connect(refusing.harness().alias, { home: refusing.harness().home, connectTimeoutMs: 5000, commands: 3, files: createSshFiles() });
  try {
    await assert.rejects(host.exec({ name: 'true', command: 'true' }), (error: Error) => {
      assert.equal(error.name, 'SshConnectError');
      assert.match(error.message, /^cannot run commands on \S+ \(\S+@127\.0\.0\.1:\d+\): the remote shell did not start: This account is currently not available\.$/);
      return true;
    });
  } finally {
    await host.close();
  }
});

/**
 * A proxy to the harness's sshd that hands what sshd sends on in bursts, every 50 ms: what sshd sent
 * meanwhile arrives in one read, as over a link that batches (or a slow reader). `alias` reaches
 * that sshd through it.
 */
async function batchingProxy(h = harness(), alias = 'batched'): Promise<{ alias: string; close: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: h.port });
    const held: Buffer[] = [];
    const timer = setInterval(() => held.length && client.write(Buffer.concat(held.splice(0))), 50);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => (clearInterval(timer), sockets.delete(socket)));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream);
    upstream.on('data', (chunk: Buffer) => held.push(chunk));
    upstream.on('end', () => setTimeout(() => client.end(Buffer.concat(held.splice(0))), 60));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fs.appendFileSync(h.sshConfigFile, `\nHost ${alias}\n  HostName 127.0.0.1\n  Port ${(server.address() as net.AddressInfo).port}\n  HostKeyAlias [127.0.0.1]:${h.port}\n` +
    `  User ${h.user}\n  IdentityFile ${h.identityFile}\n  IdentitiesOnly yes\n  UserKnownHostsFile ${h.knownHostsFile}\n`);
  return { alias, close: () => (server.close(), sockets.forEach((socket) => socket.destroy())) };
}

test('a first command over in the same read as its exec reply (status, output, close at once): its status and output are kept', { skip }, async () => {
  const proxy = await batchingProxy();
  try {
    const host = await SshHost.connect(proxy.alias, { home: harness().home, connectTimeoutMs: 5000, commands: 3, files: createSshFiles() });
    try {
      // sshd replies to the exec, runs the command and closes the channel within the 50 ms the proxy holds them.
      const result = await Promise.race([host.exec({ name: 'quick', command: 'echo out; exit 5' }), sleep(10_000).then(() => 'no result in 10 s')]);
      assert.deepEqual(result, { code: 5, stdout: 'out\n', stderr: '' });
    } finally {
      await host.close();
    }
  } finally {
    proxy.close();
  }
});

test('a first command with stdin whose shell does not start, all in one read: "cannot run commands on …", its stdin dropped', { skip }, async () => {
  const proxy = await batchingProxy(refusing.harness(), 'batched-refusing');
  try {
    const host = await SshHost.connect(proxy.alias, { home: refusing.harness().home, connectTimeoutMs: 5000, commands: 3, files: createSshFiles() });
    try {
      await assert.rejects(host.exec({ name: 'cat', command: 'cat', stdin: 'some input\n' }), /^SshConnectError: cannot run commands on .*: the remote shell did not start: This account is currently not available\.$/);
    } finally {
      await host.close();
    }
  } finally {
    proxy.close();
  }
});
