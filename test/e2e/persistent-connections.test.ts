// DEPLOY_SSH_PERSIST_SECONDS over a real sshd (connection-pool.ts): a connection whose use ended
// cleanly serves the next use of the same alias, but only while it is still what a fresh connection
// would be; a cancelled, dead or expired one is never handed on. Logins are counted in sshd's log.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { until } from '../helpers/engine.ts';
import { runCliInProcess, startServe, stopChild } from '../helpers/cli.ts';
import { BUILD_SCRIPT, createOrigin, freePort } from '../helpers/deploy-fixture.ts';
import { startRuntime, type Runtime } from '../../src/engine/runtime.ts';
import { loadConfig } from '../../src/support/config.ts';
import { skipWithoutSshd, startSshdHarness, type SshdHarness } from '../helpers/sshd.ts';
import { ConnectionPool, MAX_IDLE_PER_ALIAS } from '../../src/transport/ssh/connection-pool.ts';
import { createPooledConnector, type Connector } from '../../src/transport/ssh/connect.ts';
import { createSshFiles } from '../../src/transport/ssh/ssh-files.ts';
import { HostKeyError } from '../../src/transport/ssh/errors.ts';
import type { SshHost } from '../../src/transport/ssh/ssh-host.ts';

/** The pids of the processes whose command line matches `pattern` (pgrep -f); none when there is none. */
function pgrep(pattern: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', pattern], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
}

const skip = skipWithoutSshd();
const ECHO = { name: 'probe', command: 'echo ok' };

describe('persistent SSH connections (DEPLOY_SSH_PERSIST_SECONDS)', { skip }, () => {
  let harness: SshdHarness;
  let originalConfig: string;
  let originalKnownHosts: string;
  let logStart = 0;
  const pools: { close(): void }[] = [];

  before(async () => {
    harness = await startSshdHarness({ aliases: ['vps1', 'vps2'], sshdConfig: ['LogLevel VERBOSE'] });
    originalConfig = fs.readFileSync(harness.sshConfigFile, 'utf8');
    originalKnownHosts = fs.readFileSync(harness.knownHostsFile, 'utf8');
  });
  after(async () => {
    for (const pool of pools) pool.close();
    await harness?.stop();
  });
  beforeEach(() => {
    fs.writeFileSync(harness.sshConfigFile, originalConfig);
    fs.writeFileSync(harness.knownHostsFile, originalKnownHosts);
    logStart = fs.statSync(harness.sshdLogFile).size;
  });

  /** sshd's log lines since the test began that match `pattern`. */
  const logLines = (pattern: RegExp) => fs.readFileSync(harness.sshdLogFile, 'utf8').slice(logStart).split('\n').filter((line) => pattern.test(line));
  const logins = () => logLines(/Accepted publickey for /).length;
  const tcpConnections = () => logLines(/Connection from 127\.0\.0\.1 port \d+ on /).length;

  const connector = (persistMs: number): Connector => {
    const made = createPooledConnector({ home: harness.home, sshConnectTimeoutMs: 5000 }, persistMs);
    pools.push(made);
    return made;
  };
  const pool = (idleMs: number): ConnectionPool => {
    const made = new ConnectionPool({ idleMs, ssh: { home: harness.home, connectTimeoutMs: 5000, files: createSshFiles() } });
    pools.push(made);
    return made;
  };

  /** A use: connect, one command, close. */
  const use = async (connect: (alias: string, plan?: { commands?: number }) => Promise<SshHost>, alias = 'vps1'): Promise<SshHost> => {
    const host = await connect(alias, { commands: 1 });
    const result = await host.exec(ECHO);
    assert.equal(result.stdout, 'ok\n', result.stderr);
    await host.close();
    return host;
  };

  /** Two uses of vps1 through `made`: what each got, and the logins and TCP connections sshd saw for them. */
  const twoUses = async (made: Connector) => {
    logStart = fs.statSync(harness.sshdLogFile).size;
    const [first, second] = [await use(made.connect), await use(made.connect)];
    return { first, second, logins: logins(), tcp: tcpConnections() };
  };

  test('persist on: two uses of one alias make one TCP connection and one login; persist 0 (the default) makes two', async () => {
    const persistent = connector(10_000);
    const on = await twoUses(persistent);
    assert.equal(on.first.id, on.second.id);
    assert.deepEqual([on.logins, on.tcp], [1, 1]);
    // Another alias is another connection, even to the same sshd.
    await use(persistent.connect, 'vps2');
    assert.equal(logins(), 2);
    persistent.close();

    const off = await twoUses(connector(0));
    assert.notEqual(off.first.id, off.second.id);
    assert.deepEqual([off.logins, off.tcp], [2, 2]);
    await until(() => !off.first.open && !off.second.open); // persist 0 closes each connection at its close()
  });

  test('one user at a time: two uses at once get two connections, and both are kept idle afterwards', async () => {
    const connections = pool(10_000);
    const [a, b] = await Promise.all([connections.connect('vps1'), connections.connect('vps1')]);
    assert.notEqual(a.id, b.id);
    await Promise.all([a.close(), b.close()]);
    assert.equal(connections.idleCount('vps1'), 2);
    const [c, d] = await Promise.all([connections.connect('vps1'), connections.connect('vps1')]);
    assert.deepEqual(new Set([c.id, d.id]), new Set([a.id, b.id]));
    assert.equal(logins(), 2);
    await Promise.all([c.exec(ECHO), d.exec(ECHO)]);
    await Promise.all([c.close(), d.close()]);
  });

  test(`at most ${MAX_IDLE_PER_ALIAS} idle connections per alias: one more use at once closes its connection at the end`, async () => {
    const connections = pool(10_000);
    const hosts = await Promise.all(Array.from({ length: MAX_IDLE_PER_ALIAS + 1 }, () => connections.connect('vps1')));
    for (const host of hosts) await host.close();
    assert.equal(connections.idleCount('vps1'), MAX_IDLE_PER_ALIAS);
    await until(() => !hosts.at(-1)!.open);
  });

  test('each reuse prepares shells for its own plan, and its commands run as on a fresh connection', async () => {
    const connections = pool(10_000);
    await use((alias, plan) => connections.connect(alias, plan));
    const host = await connections.connect('vps1', { commands: 3 });
    for (const n of [1, 2, 3]) assert.equal((await host.exec({ name: 'n', command: `echo ${n}; cat`, stdin: 'in' })).stdout, `${n}\nin`);
    await host.close();
    assert.equal(logins(), 1);
  });

  test("known_hosts no longer holding the host's key: the next use is refused with the usual one-line message", async () => {
    const connections = pool(10_000);
    await use((alias) => connections.connect(alias));
    fs.writeFileSync(harness.knownHostsFile, '# emptied\n');
    await assert.rejects(connections.connect('vps1'), (error: Error) => {
      assert.ok(error instanceof HostKeyError);
      assert.match(error.message, /^host key of \[127\.0\.0\.1\]:\d+ is unknown: check it, then trust it with: ssh-keyscan /);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
    assert.equal(connections.idleCount(), 0, 'the pooled connection was closed');
  });

  test("known_hosts holding another key for the host: the next use is refused as CHANGED", async () => {
    const connections = pool(10_000);
    await use((alias) => connections.connect(alias));
    const other = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl';
    fs.writeFileSync(harness.knownHostsFile, `[127.0.0.1]:${harness.port} ${other}\n`);
    await assert.rejects(connections.connect('vps1'), (error: Error) => error instanceof HostKeyError && /has CHANGED/.test(error.message));
    assert.equal(logins(), 1);
  });

  test('~/.ssh/config changed for the alias: a fresh connection', async () => {
    const connections = pool(10_000);
    const first = await use((alias) => connections.connect(alias));
    fs.writeFileSync(harness.sshConfigFile, originalConfig.replace(/^Host vps1\n/m, 'Host vps1\n  ServerAliveInterval 7\n'));
    const second = await use((alias) => connections.connect(alias));
    assert.notEqual(first.id, second.id);
    await until(() => !first.open); // the stale connection was closed
    assert.equal(logins(), 2);
    // The other alias's settings did not change: its connection is still reused.
    await use((alias) => connections.connect(alias), 'vps2');
    await use((alias) => connections.connect(alias), 'vps2');
    assert.equal(logins(), 3);
  });

  test('through a ProxyJump: reused as a whole; a change to the jump host\'s settings makes a fresh chain', async () => {
    const jumped = [
      'Host jumped', '  HostName 127.0.0.1', `  Port ${harness.port}`, `  User ${harness.user}`, `  IdentityFile ${harness.identityFile}`,
      '  IdentitiesOnly yes', `  UserKnownHostsFile ${harness.knownHostsFile}`, '  ProxyJump vps2', '',
    ].join('\n');
    fs.writeFileSync(harness.sshConfigFile, `${jumped}\n${originalConfig}`);
    const connections = pool(10_000);
    const first = await use((alias) => connections.connect(alias), 'jumped');
    assert.equal((await use((alias) => connections.connect(alias), 'jumped')).id, first.id);
    assert.equal(logins(), 2, 'the jump host and the host, once each');
    fs.writeFileSync(harness.sshConfigFile, `${jumped}\n${originalConfig.replace(/^Host vps2\n/m, 'Host vps2\n  ServerAliveInterval 7\n')}`);
    assert.notEqual((await use((alias) => connections.connect(alias), 'jumped')).id, first.id);
    assert.equal(logins(), 4);
    fs.writeFileSync(harness.knownHostsFile, '# emptied\n');
    await assert.rejects(connections.connect('jumped'), (error: Error) => error instanceof HostKeyError && /^host key of \[127\.0\.0\.1\]:\d+ is unknown/.test(error.message));
  });

  test('the pooled connection dropped while idle (sshd restarted): the next use connects afresh and succeeds', async () => {
    const connections = pool(10_000);
    const first = await use((alias) => connections.connect(alias));
    await harness.stopSshd();
    await harness.startSshd();
    await until(() => !first.open);
    const second = await use((alias) => connections.connect(alias));
    assert.notEqual(first.id, second.id);
    assert.equal(logins(), 2);
  });

  test("each use has a handle of its own: closing it twice, or a command through it after its close, cannot reach the next use", async () => {
    const connections = pool(10_000);
    const first = await connections.connect('vps1', { commands: 1 });
    assert.equal((await first.exec(ECHO)).stdout, 'ok\n');
    await first.close();
    const second = await connections.connect('vps1', { commands: 2 });
    assert.equal(second.id, first.id, 'the same connection');
    await first.close(); // the first use's handle again: nothing happens to the second use
    await assert.rejects(first.exec(ECHO), /this use of the SSH connection to vps1 has ended/);
    assert.equal(connections.idleCount(), 0, 'not handed back while the second use holds it');
    assert.equal((await second.exec(ECHO)).stdout, 'ok\n');
    assert.equal((await second.exec(ECHO)).stdout, 'ok\n');
    await second.close();
    assert.equal(connections.idleCount(), 1);
    assert.equal(logins(), 1);
  });

  test('a pooled connection that no longer answers (its sshd process stopped) is not handed out: a fresh one is, within the connect timeout', async () => {
    const connections = new ConnectionPool({ idleMs: 10_000, ssh: { home: harness.home, connectTimeoutMs: 1000, files: createSshFiles() } });
    pools.push(connections);
    // The unprivileged sshd process serving the idle connection: the session that its use added.
    const sessions = () => pgrep(`^sshd: ${harness.user}@notty`);
    const before = new Set(sessions());
    const first = await use((alias) => connections.connect(alias));
    const added = sessions().filter((pid) => !before.has(pid));
    assert.equal(added.length, 1, `one new session process expected: ${added.join(' ')}`);
    const pid = added[0];
    process.kill(pid, 'SIGSTOP');
    try {
      const started = performance.now();
      const second = await use((alias) => connections.connect(alias));
      assert.notEqual(second.id, first.id);
      assert.ok(performance.now() - started < 4000, 'waited for the silent connection no longer than the connect timeout');
      assert.equal(logins(), 2);
    } finally {
      process.kill(pid, 'SIGKILL');
    }
  });

  test('a connection past its age limit is not reused, however recently used (it never logs in again)', async () => {
    const connections = new ConnectionPool({ idleMs: 10_000, maxAgeMs: 500, ssh: { home: harness.home, connectTimeoutMs: 5000, files: createSshFiles() } });
    pools.push(connections);
    const first = await use((alias) => connections.connect(alias));
    assert.equal((await use((alias) => connections.connect(alias))).id, first.id, 'young: reused');
    await sleep(600);
    const third = await use((alias) => connections.connect(alias));
    assert.notEqual(third.id, first.id);
    await until(() => !first.open);
    assert.equal(logins(), 2);
  });

  test('a use cancelled mid-command: its connection is not reused', async () => {
    const connections = pool(10_000);
    const host = await connections.connect('vps1', { commands: 1 });
    const cancel = new AbortController();
    const running = host.exec({ name: 'sleep', command: 'sleep 30' }, { signal: cancel.signal });
    await sleep(300);
    cancel.abort(new Error('cancelled'));
    await assert.rejects(running, /cancelled/);
    await host.close();
    assert.equal(connections.idleCount(), 0);
    await until(() => !host.open);
    await use((alias) => connections.connect(alias));
    assert.equal(logins(), 2);
  });

  test('closed while a command still runs on it (a timed-out status read): closed, not kept', async () => {
    const connections = pool(10_000);
    const host = await connections.connect('vps1', { commands: 1 });
    const running = host.exec({ name: 'sleep', command: 'sleep 1' }).catch(() => undefined);
    await sleep(100);
    await host.close();
    assert.equal(connections.idleCount(), 0);
    await running;
  });

  test('the idle time ends: the connection is closed (sshd sees the disconnect); close() closes the idle ones', async () => {
    const connections = pool(300);
    const host = await use((alias) => connections.connect(alias));
    assert.equal(connections.idleCount(), 1);
    await until(() => !host.open);
    assert.equal(connections.idleCount(), 0);
    await until(() => logLines(/Disconnected from user /).length === 1);

    const longer = pool(60_000);
    const [a, b] = [await use((alias) => longer.connect(alias)), await use((alias) => longer.connect(alias), 'vps2')];
    assert.equal(longer.idleCount(), 2);
    longer.close();
    assert.equal(longer.idleCount(), 0);
    await until(() => !a.open && !b.open);
    await until(() => logLines(/Disconnected from user /).length === 3);
    // Closed: a use ending afterwards closes its connection instead of keeping it.
    const late = await longer.connect('vps1');
    await late.close();
    assert.equal(longer.idleCount(), 0);
    await until(() => !late.open);
  });
});

describe('persistent connections through the runtime (serve\'s wiring)', { skip }, () => {
  let harness: SshdHarness;
  let env: Record<string, string>;
  let repo: ReturnType<typeof createOrigin>;
  const runtimes: Runtime[] = [];

  before(async () => {
    harness = await startSshdHarness({ aliases: ['vps1'], sshdConfig: ['LogLevel VERBOSE'] });
    repo = createOrigin(harness, 'kept', { 'build.sh': BUILD_SCRIPT, 'pre-build': 'true\n', 'version.txt': '0' });
    const port = await freePort();
    env = { ...process.env, ...harness.env, DEPLOY_DB: path.join(harness.tmpDir, 'kept.db'), DEPLOY_UNIT_DIR: harness.unitDir, DEPLOY_SSH_PERSIST_SECONDS: '10' } as Record<string, string>;
    const remoteDir = path.join(harness.workDir, 'kept');
    for (const args of [
      ['target', 'add', '--app', 'kept', '--host', 'vps1', '--strategy', 'systemd-remote', '--remote-dir', remoteDir, '--repo', repo.origin, '--build', 'sh pre-build && sh build.sh kept',
        '--port', String(port), '--health', '/health', '--env', JSON.stringify({ PORT: String(port) })],
      ['setup', 'kept', '--host', 'vps1'],
    ]) {
      const result = await runCliInProcess(args, env);
      assert.equal(result.code, 0, result.stderr);
    }
  });
  after(async () => {
    for (const runtime of runtimes) {
      runtime.closeConnections();
      await runtime.executor.shutdown(1000);
      await runtime.orm.close();
    }
    await harness?.stop();
  });

  const logins = () => fs.readFileSync(harness.sshdLogFile, 'utf8').split('\n').filter((line) => line.includes('Accepted publickey for ')).length;
  const runtime = async (persistConnections: boolean) => {
    const made = await startRuntime(loadConfig(env), undefined, undefined, true, { persistConnections });
    runtimes.push(made);
    return made;
  };
  let commits = 0;
  const deploy = async (on: Runtime, build = 'true') => {
    repo.commit({ 'pre-build': `${build}\n`, 'version.txt': String(++commits) }, build);
    return on.executor.requestDeploy({ app: 'kept', host: 'vps1', trigger: 'api' });
  };
  const deployed = async (on: Runtime) => {
    const outcome = await (await deploy(on)).done;
    assert.equal(outcome.status, 'success', outcome.error ?? undefined);
  };
  /** The logins two runs one after the other through `on` make. */
  const loginsOfTwoRuns = async (on: Runtime) => {
    const start = logins();
    await deployed(on);
    await deployed(on);
    return logins() - start;
  };

  test('two runs to one host make one login; a cancelled run\'s connection is closed, not kept; closeConnections closes the idle one', async () => {
    const serve = await runtime(true);
    const start = logins();
    assert.equal(await loginsOfTwoRuns(serve), 1);

    const marker = path.join(harness.workDir, 'kept', 'started');
    const slow = await deploy(serve, `touch ${marker}; sleep 30`);
    await until(() => fs.existsSync(marker), 15_000);
    await serve.executor.cancel(slow.runId);
    assert.equal((await slow.done).status, 'cancelled');
    assert.equal(logins() - start, 1, 'the cancelled run used the kept connection');
    await deployed(serve);
    assert.equal(logins() - start, 2, 'the run after the cancelled one connected afresh');

    const before = fs.readFileSync(harness.sshdLogFile, 'utf8').split('\n').filter((line) => line.includes('Disconnected from user ')).length;
    serve.closeConnections();
    await until(() => fs.readFileSync(harness.sshdLogFile, 'utf8').split('\n').filter((line) => line.includes('Disconnected from user ')).length === before + 1);
  });

  test('serve: a status read\'s connection is kept; SIGTERM closes it (an SSH disconnect, not a dropped socket)', async () => {
    // ssh2's end() sends SSH_MSG_DISCONNECT, which sshd logs as received; a process that just exits does not.
    const disconnects = () => fs.readFileSync(harness.sshdLogFile, 'utf8').split('\n').filter((line) => line.includes('Received disconnect from ')).length;
    const { url, child } = await startServe({ ...env, DEPLOY_SSH_PERSIST_SECONDS: '60', DEPLOY_API_TOKEN: 'token' });
    let before = 0;
    try {
      const start = logins();
      before = disconnects();
      const response = await fetch(`${url}/api/status/kept`, { headers: { authorization: 'Bearer token' } });
      assert.equal(response.status, 200);
      assert.equal(((await response.json()) as { error?: string }[])[0].error, undefined);
      assert.equal(logins() - start, 1);
      await sleep(300);
      assert.equal(disconnects(), before, 'kept open after the read');
    } finally {
      assert.equal(await stopChild(child), 0);
    }
    await until(() => disconnects() === before + 1);
  });

  test('the CLI\'s runtime (persistConnections off) keeps nothing, whatever DEPLOY_SSH_PERSIST_SECONDS says', async () => {
    assert.equal(await loginsOfTwoRuns(await runtime(false)), 2);
  });
});
