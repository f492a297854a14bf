// SSH as operators' hosts need it, over real sshds: host keys known only by RSA or ECDSA, @revoked
// lines, an ssh-agent holding a key that is on no disk, a passphrase-protected key first in the
// list, and a host reachable through a bastion (ProxyJump, chains, `none`), rsync included.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, httpText, writeAppSource } from '../helpers/deploy-fixture.ts';
import { runCliInProcess } from '../helpers/cli.ts';
import { until } from '../helpers/engine.ts';
import { skipWithoutSshd, startSshdHarness, type SshdHarness } from '../helpers/sshd.ts';
import { SshHost } from '../../src/transport/ssh/ssh-host.ts';
import { createSshFiles } from '../../src/transport/ssh/ssh-files.ts';
import { HostKeyError, SshConnectError } from '../../src/transport/ssh/errors.ts';

const skip = skipWithoutSshd();
const PASSPHRASE = 'correct horse battery staple';

/** Host blocks appended to a harness's ssh config (its fake HOME). */
function addHosts(harness: SshdHarness, blocks: Record<string, Record<string, string | number | string[]>>): void {
  const text = Object.entries(blocks).map(([pattern, options]) =>
    [`Host ${pattern}`, ...Object.entries(options).flatMap(([key, value]) => (Array.isArray(value) ? value : [value]).map((v) => `  ${key} ${v}`))].join('\n'),
  );
  fs.appendFileSync(harness.sshConfigFile, `\n${text.join('\n')}\n`);
}

function sshKeygen(file: string, type = 'ed25519', passphrase = ''): string {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', passphrase, '-C', path.basename(file), '-f', file]);
  return fs.readFileSync(`${file}.pub`, 'utf8');
}

function authorize(harness: SshdHarness, publicKey: string): void {
  fs.appendFileSync(path.join(harness.tmpDir, 'authorized_keys'), publicKey);
}

async function run(harness: SshdHarness, alias: string, command = 'echo ok'): Promise<{ stdout: string; notes: readonly string[] }> {
  const host = await SshHost.connect(alias, { home: harness.home, connectTimeoutMs: 5000, files: createSshFiles() });
  try {
    const result = await host.exec({ name: 'probe', command });
    assert.equal(result.code, 0, result.stderr);
    return { stdout: result.stdout, notes: host.notes };
  } finally {
    await host.close();
  }
}

describe('host keys as OpenSSH checks them', { skip }, () => {
  let rsaAndEd: SshdHarness;
  let ecdsaOnly: SshdHarness;

  before(async () => {
    [rsaAndEd, ecdsaOnly] = await Promise.all([
      startSshdHarness({ aliases: ['rsa-known'], hostKeyTypes: ['rsa', 'ed25519'], knownHostKeyTypes: ['rsa'] }),
      startSshdHarness({ aliases: ['ecdsa-known'], hostKeyTypes: ['ecdsa'] }),
    ]);
  });
  after(async () => {
    await Promise.all([rsaAndEd?.stop(), ecdsaOnly?.stop()]);
  });

  test('a host that also has an ed25519 key connects when known_hosts holds only its RSA line', async () => {
    assert.doesNotMatch(fs.readFileSync(rsaAndEd.knownHostsFile, 'utf8'), /ed25519/);
    assert.equal((await run(rsaAndEd, 'rsa-known')).stdout, 'ok\n');
  });

  test('an ECDSA-only host known by its ECDSA line connects', async () => {
    assert.equal((await run(ecdsaOnly, 'ecdsa-known')).stdout, 'ok\n');
  });

  test('HostKeyAlias: the key is looked up under the alias', async () => {
    const knownHosts = path.join(rsaAndEd.tmpDir, 'aliased_known_hosts');
    fs.writeFileSync(knownHosts, `web-1.internal ${rsaAndEd.hostKeys.ed25519}\n`);
    addHosts(rsaAndEd, { aliased: { HostName: '127.0.0.1', Port: rsaAndEd.port, User: rsaAndEd.user, IdentityFile: rsaAndEd.identityFile, UserKnownHostsFile: knownHosts, HostKeyAlias: 'web-1.internal' } });
    assert.equal((await run(rsaAndEd, 'aliased')).stdout, 'ok\n');
  });

  test('a key marked @revoked is refused even though a plain line trusts it too', async () => {
    const knownHosts = path.join(rsaAndEd.tmpDir, 'revoked_known_hosts');
    const name = `[127.0.0.1]:${rsaAndEd.port}`;
    fs.writeFileSync(knownHosts, `${name} ${rsaAndEd.hostKeys.rsa}\n@revoked ${name} ${rsaAndEd.hostKeys.rsa}\n`);
    addHosts(rsaAndEd, { revoked: { HostName: '127.0.0.1', Port: rsaAndEd.port, User: rsaAndEd.user, IdentityFile: rsaAndEd.identityFile, UserKnownHostsFile: knownHosts } });
    await assert.rejects(run(rsaAndEd, 'revoked'), (error: Error) => {
      assert.ok(error instanceof HostKeyError);
      assert.equal(error.message, `host key of ${name} (ssh-rsa) is marked @revoked in known_hosts: refusing to connect`);
      return true;
    });
  });

  test('a changed key names the file and line of the known one and does not advise deleting it', async () => {
    const knownHosts = path.join(rsaAndEd.tmpDir, 'changed_known_hosts');
    const other = sshKeygen(path.join(rsaAndEd.tmpDir, 'impostor'), 'rsa').split(' ').slice(0, 2).join(' ');
    fs.writeFileSync(knownHosts, `# a comment\n[127.0.0.1]:${rsaAndEd.port} ${other}\n`);
    addHosts(rsaAndEd, { changed: { HostName: '127.0.0.1', Port: rsaAndEd.port, User: rsaAndEd.user, IdentityFile: rsaAndEd.identityFile, UserKnownHostsFile: knownHosts } });
    await assert.rejects(run(rsaAndEd, 'changed'), (error: Error) => {
      assert.ok(error instanceof HostKeyError);
      assert.match(error.message, new RegExp(`^host key of \\[127\\.0\\.0\\.1\\]:${rsaAndEd.port} has CHANGED: it presented a ssh-rsa key that ${knownHosts} line 2 does not hold`));
      assert.match(error.message, /man-in-the-middle attack: verify the new key out of band/);
      assert.doesNotMatch(error.message, /ssh-keygen -R|remove the old/);
      return true;
    });
  });
});

/** A registry root, a database and the in-process CLI, for deploys to the target harness's aliases. */
function deployEnv(harness: SshdHarness) {
  const registryRoot = path.join(harness.tmpDir, 'registry');
  fs.mkdirSync(registryRoot, { recursive: true });
  const env = {
    ...harness.env,
    DEPLOY_DB: path.join(harness.tmpDir, 'operations.db'),
    DEPLOY_REGISTRY_ROOT: registryRoot,
    DEPLOY_UNIT_DIR: harness.unitDir,
    DEPLOY_HEALTH_TIMEOUT: '4',
    DEPLOY_SSH_TIMEOUT: '5',
  };
  const cli = (...args: string[]) => runCliInProcess(args, env);
  /** Adds a systemd app serving /health on the given host alias, sets it up, deploys it with --verbose. */
  const deployApp = async (app: string, host: string, version = 'v1') => {
    writeAppSource(path.join(registryRoot, 'apps', app), version);
    const port = await freePort();
    const add = await cli('target', 'add', '--app', app, '--host', host, '--remote-dir', path.join(harness.workDir, app), '--build', `sh build.sh ${app}`,
      '--port', String(port), '--health', '/health', '--env', JSON.stringify({ PORT: String(port) }));
    assert.equal(add.code, 0, add.stderr);
    const setup = await cli('setup', app, '--host', host);
    assert.equal(setup.code, 0, setup.stderr);
    const deploy = await cli('deploy', app, '--host', host, '--verbose');
    return { port, deploy };
  };
  return { cli, deployApp };
}

describe('authentication as OpenSSH: agent first, then each key file', { skip }, () => {
  let harness: SshdHarness;
  let agent: ChildProcess | undefined;
  let agentSocket = '';
  let world: ReturnType<typeof deployEnv>;
  const savedSocket = process.env.SSH_AUTH_SOCK;

  before(async () => {
    // VERBOSE: sshd logs each publickey request, "Postponed" when it only answered whether a key would do.
    harness = await startSshdHarness({ sshdConfig: ['LogLevel VERBOSE'] });
    world = deployEnv(harness);
    // A real ssh-agent holding a key that is then removed from disk: only the agent can sign with it.
    agentSocket = path.join(harness.tmpDir, 'agent.sock');
    agent = spawn('ssh-agent', ['-D', '-a', agentSocket], { stdio: 'ignore' });
    await until(() => fs.existsSync(agentSocket), 5000);
    const agentKey = path.join(harness.tmpDir, 'agent_only_key');
    authorize(harness, sshKeygen(agentKey));
    execFileSync('ssh-add', ['-q', agentKey], { env: { ...process.env, SSH_AUTH_SOCK: agentSocket }, stdio: 'ignore' });
    fs.rmSync(agentKey);
    fs.rmSync(`${agentKey}.pub`);
    process.env.SSH_AUTH_SOCK = agentSocket;

    const locked = path.join(harness.home, '.ssh', 'id_locked');
    authorize(harness, sshKeygen(locked, 'ed25519', PASSPHRASE));
    const common = { HostName: '127.0.0.1', Port: harness.port, User: harness.user, UserKnownHostsFile: harness.knownHostsFile };
    addHosts(harness, {
      agented: { ...common, IdentityFile: 'none' },
      'locked-first': { ...common, IdentityFile: [locked, harness.identityFile], IdentityAgent: 'none' },
      'locked-only': { ...common, IdentityFile: locked, IdentityAgent: 'none' },
      'agent-but-identities-only': { ...common, IdentityFile: harness.identityFile, IdentitiesOnly: 'yes' },
    });
    const rsa = path.join(harness.home, '.ssh', 'id_rsa_signed');
    authorize(harness, sshKeygen(rsa, 'rsa'));
    addHosts(harness, {
      'key-file': { ...common, IdentityFile: harness.identityFile, IdentityAgent: 'none' },
      'rsa-key-file': { ...common, IdentityFile: rsa, IdentityAgent: 'none' },
      'unknown-key-first': { ...common, IdentityFile: [path.join(harness.home, '.ssh', 'id_not_authorized'), harness.identityFile], IdentityAgent: 'none' },
    });
    sshKeygen(path.join(harness.home, '.ssh', 'id_not_authorized'));
  });
  after(async () => {
    if (savedSocket === undefined) delete process.env.SSH_AUTH_SOCK;
    else process.env.SSH_AUTH_SOCK = savedSocket;
    agent?.kill();
    await harness?.stop();
  });

  test('an ssh-agent holding a key that is on no disk deploys (systemd: rsync uses the agent too)', async () => {
    const { port, deploy } = await world.deployApp('agentapp', 'agented');
    assert.equal(deploy.code, 0, deploy.stdout + deploy.stderr);
    assert.deepEqual(await httpText(port, '/health'), { status: 200, body: 'v1' });
  });

  /** What sshd logged about publickey requests while `alias` connected and ran a command. */
  const publickeyLog = async (alias: string) => {
    const start = fs.statSync(harness.sshdLogFile).size;
    await run(harness, alias);
    // sshd writes the log line before it answers; the read after the command sees it.
    return fs.readFileSync(harness.sshdLogFile, 'utf8').slice(start).split(/\r?\n/).filter((line) => / publickey for /.test(line)).map((line) => line.replace(/ from .*/, ''));
  };

  test('a key file sends its signature with its first request: no round trip asking whether the key would do', async () => {
    assert.deepEqual(await publickeyLog('key-file'), [`Accepted publickey for ${harness.user}`]);
    // RSA signs with the hash its algorithm names (rsa-sha2-256/512 as the server offers).
    assert.deepEqual(await publickeyLog('rsa-key-file'), [`Accepted publickey for ${harness.user}`]);
    // A key the server refuses costs a signature for nothing, and the next key is tried as before.
    assert.deepEqual(await publickeyLog('unknown-key-first'), [`Failed publickey for ${harness.user}`, `Accepted publickey for ${harness.user}`]);
  });

  test('an agent key is still asked about first (an agent may make its user confirm each signature)', async () => {
    assert.deepEqual(await publickeyLog('agented'), [`Postponed publickey for ${harness.user}`, `Accepted publickey for ${harness.user}`]);
  });

  test('IdentitiesOnly: the agent offers only the configured keys, so the key file authenticates', async () => {
    const host = await SshHost.connect('agent-but-identities-only', { home: harness.home, connectTimeoutMs: 5000, files: createSshFiles() });
    try {
      assert.deepEqual(host.rsyncSsh(5000).hops.map((hop) => hop.identityFile), [harness.identityFile]);
    } finally {
      await host.close();
    }
  });

  test('a passphrase-protected key first in the list is skipped with a note in sshCheck; the next key deploys', async () => {
    const { deploy } = await world.deployApp('lockedapp', 'locked-first');
    assert.equal(deploy.code, 0, deploy.stdout + deploy.stderr);
    assert.match(deploy.stdout, /note: skipped key \S+\/id_locked: it is passphrase-protected \(load it into ssh-agent with ssh-add to use it\)/);
  });

  test('a passphrase-protected key that ssh-agent holds is used through the agent, without a note', async () => {
    const locked = path.join(harness.home, '.ssh', 'id_locked');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', PASSPHRASE, '-f', `${locked}_agent`]);
    authorize(harness, fs.readFileSync(`${locked}_agent.pub`, 'utf8'));
    // ssh-add reads the passphrase from SSH_ASKPASS when it has no terminal.
    const askpass = path.join(harness.tmpDir, 'askpass.sh');
    fs.writeFileSync(askpass, `#!/bin/sh\necho '${PASSPHRASE}'\n`, { mode: 0o700 });
    execFileSync('setsid', ['-w', 'ssh-add', '-q', `${locked}_agent`], {
      env: { ...process.env, SSH_AUTH_SOCK: agentSocket, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force', DISPLAY: ':0' },
      stdio: 'ignore',
    });
    addHosts(harness, { 'locked-in-agent': { HostName: '127.0.0.1', Port: harness.port, User: harness.user, UserKnownHostsFile: harness.knownHostsFile, IdentityFile: `${locked}_agent`, IdentitiesOnly: 'yes' } });
    const host = await SshHost.connect('locked-in-agent', { home: harness.home, connectTimeoutMs: 5000, files: createSshFiles() });
    try {
      assert.deepEqual(host.notes, []);
      assert.deepEqual(host.rsyncSsh(5000).hops.map((hop) => hop.agentSocket), [agentSocket]);
    } finally {
      await host.close();
    }
  });

  test('only a passphrase-protected key: one clear error, no passphrase or key material in it', async () => {
    await assert.rejects(run(harness, 'locked-only'), (error: Error) => {
      assert.ok(error instanceof SshConnectError);
      assert.match(error.message, new RegExp(`^cannot connect to locked-only \\(${harness.user}@127\\.0\\.0\\.1:\\d+\\): no key to offer .*; skipped key \\S+/id_locked: it is passphrase-protected`));
      assert.doesNotMatch(error.message, /horse|PRIVATE KEY/);
      return true;
    });
  });
});

describe('ProxyJump: a host reached through a bastion, chains and `none`', { skip }, () => {
  let bastion: SshdHarness;
  let target: SshdHarness;
  let world: ReturnType<typeof deployEnv>;
  /** The bastion's sshd forwarded a connection to the target (`ssh -W` / direct-tcpip), this many times. */
  const forwardsToTarget = () =>
    fs.readFileSync(bastion.sshdLogFile, 'utf8').split('\n').filter((line) => line.includes(`target ${target.listenAddress} port ${target.port}`)).length;

  before(async () => {
    [bastion, target] = await Promise.all([
      startSshdHarness({ aliases: ['bastion-self'], sshdConfig: ['LogLevel DEBUG1'] }),
      startSshdHarness({ aliases: ['testhost'], listenAddress: '127.0.0.5' }),
    ]);
    world = deployEnv(target);
    const targetHost = { HostName: target.listenAddress, Port: target.port, User: target.user, IdentityFile: target.identityFile, IdentitiesOnly: 'yes', UserKnownHostsFile: target.knownHostsFile };
    addHosts(target, {
      // Without `none` the bastion would take `Host *`'s ProxyJump and jump through itself.
      bastion: { HostName: '127.0.0.1', Port: bastion.port, User: bastion.user, IdentityFile: bastion.identityFile, IdentitiesOnly: 'yes', UserKnownHostsFile: bastion.knownHostsFile, ProxyJump: 'none' },
      behind: targetHost,
      chained: { ...targetHost, ProxyJump: `bastion,${bastion.user}@bastion:${bastion.port}` },
      '*': { ProxyJump: 'bastion' },
    });
  });
  after(async () => {
    await Promise.all([bastion?.stop(), target?.stop()]);
  });

  test('a systemd deploy goes through the bastion: the connection and rsync', async () => {
    const before = forwardsToTarget();
    const { port, deploy } = await world.deployApp('jumped', 'behind');
    assert.equal(deploy.code, 0, deploy.stdout + deploy.stderr);
    assert.deepEqual(await httpText(port, '/health'), { status: 200, body: 'v1' });
    // setup, the deploy's connection, rsync's own ssh: each one forwarded by the bastion.
    assert.ok(forwardsToTarget() - before >= 3, `the bastion forwarded ${forwardsToTarget() - before} connections to the target`);
  });

  test('a chain of two hops connects through both', async () => {
    const before = forwardsToTarget();
    assert.equal((await run(target, 'chained', 'echo through')).stdout, 'through\n');
    assert.equal(forwardsToTarget() - before, 1);
    const log = fs.readFileSync(bastion.sshdLogFile, 'utf8');
    assert.match(log, new RegExp(`target 127\\.0\\.0\\.1 port ${bastion.port}`), 'the second hop was reached through the first');
  });

  test('with the bastion down the host cannot be reached, and the error names the jump host', async () => {
    await bastion.stopSshd();
    try {
      await assert.rejects(run(target, 'behind'), new RegExp(`^SshConnectError: cannot connect to jump host bastion \\(${bastion.user}@127\\.0\\.0\\.1:\\d+\\): connect ECONNREFUSED`));
    } finally {
      await bastion.startSshd();
    }
  });
});

describe('what the transport does not do is one clear line', { skip }, () => {
  let harness: SshdHarness;
  before(async () => {
    harness = await startSshdHarness({ aliases: ['plain'] });
    addHosts(harness, {
      piped: { HostName: '127.0.0.1', Port: harness.port, ProxyCommand: 'nc %h %p' },
    });
  });
  after(async () => {
    await harness?.stop();
  });

  test('ProxyCommand is refused with the advice to use ProxyJump, never silently connected around', async () => {
    await assert.rejects(run(harness, 'piped'), /^SshConnectError: cannot connect to piped: ProxyCommand is not supported \(it would need an ssh child process\); use ProxyJump$/);
  });

  test('a config ssh would refuse fails with the file, line and reason', async () => {
    addHosts(harness, { broken: { HostName: '127.0.0.1', NoSuchOption: 'yes' } });
    await assert.rejects(run(harness, 'broken'), new RegExp(`^SshConnectError: cannot resolve SSH host broken: ${harness.sshConfigFile} line \\d+: Bad configuration option: nosuchoption$`));
  });
});

describe('an RSA key on a server that accepts only rsa-sha2-512 for users', { skip }, () => {
  let harness: SshdHarness;
  before(async () => {
    harness = await startSshdHarness({ aliases: ['sha512-only'], sshdConfig: ['PubkeyAcceptedAlgorithms rsa-sha2-512,ssh-ed25519'] });
  });
  after(async () => {
    await harness?.stop();
  });

  test('logs in with rsa-sha2-512, as ssh does (ssh2 alone tried rsa-sha2-256 only, which the server lists but refuses)', async () => {
    const key = path.join(harness.tmpDir, 'id_rsa_user');
    authorize(harness, sshKeygen(key, 'rsa'));
    addHosts(harness, { 'rsa-user': { HostName: '127.0.0.1', Port: harness.port, User: harness.user, IdentityFile: key, IdentitiesOnly: 'yes', IdentityAgent: 'none', UserKnownHostsFile: harness.knownHostsFile } });
    const oracle = execFileSync('ssh', ['-F', harness.sshConfigFile, '-o', 'BatchMode=yes', 'rsa-user', 'echo ok'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    assert.equal(oracle, 'ok\n', 'OpenSSH logs in');
    assert.equal((await run(harness, 'rsa-user')).stdout, 'ok\n');
  });
});
