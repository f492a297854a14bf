import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { NodeSSH } from 'node-ssh';
import { startSshdHarness, processAlive, skipWithoutSshd } from '../helpers/sshd.ts';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** GETs until the service answers (a restarted service needs a moment to listen), or throws. */
async function getWhenUp(url: string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url);
      return await response.text();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(50);
    }
  }
}

async function isRefused(url: string): Promise<boolean> {
  try {
    await fetch(url);
    return false;
  } catch {
    return true;
  }
}

function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }));
  });
}

test('sshd harness: a real sshd, its SSH user (deploytest as root, else the user running the tests), and the systemctl and docker stand-ins', { skip: skipWithoutSshd() }, async (t) => {
  const h = await startSshdHarness({ aliases: ['testhost', 'otherhost'] });
  t.after(() => h.stop());
  const sshdPid = Number(fs.readFileSync(path.join(h.tmpDir, 'sshd.pid'), 'utf8'));
  const servicePids: number[] = [];

  await t.test('logs in as its SSH user with the stand-ins first on PATH, through every alias', async () => {
    const who = await h.ssh('whoami');
    assert.deepEqual(who, { code: 0, stdout: `${h.user}\n`, stderr: '' });
    assert.equal(h.user, process.getuid!() === 0 ? 'deploytest' : os.userInfo().username);
    const other = await h.ssh('command -v systemctl docker', { alias: 'otherhost' });
    assert.equal(other.code, 0, other.stderr);
    assert.equal(other.stdout, `${h.standinsDir}/systemctl\n${h.standinsDir}/docker\n`);
    const config = fs.readFileSync(h.sshConfigFile, 'utf8');
    assert.match(config, new RegExp(`Host testhost\\n  HostName 127\\.0\\.0\\.1\\n  Port ${h.port}\\n  User ${h.user}\\n`));
    assert.match(fs.readFileSync(h.knownHostsFile, 'utf8'), new RegExp(`^\\[127\\.0\\.0\\.1\\]:${h.port} ssh-ed25519 `));
  });

  await t.test(h.sudo ? 'sudo -n keeps PATH and the STANDIN_* settings' : 'without sudo, the SSH user manages units while the host lets it', async () => {
    const reload = await h.ssh(h.privileged('systemctl daemon-reload'));
    assert.deepEqual(reload, { code: 0, stdout: '', stderr: '' });
    assert.deepEqual(h.calls(), ['systemctl daemon-reload']);
    assert.deepEqual(h.callDetails(), [{ user: h.systemctlUser, cwd: h.userHome, line: 'systemctl daemon-reload' }]);
    // Without sudo (or the host's permission), like the real one, systemctl refuses to change state.
    h.allowUserSystemctl(false);
    const denied = await h.ssh('systemctl daemon-reload');
    h.allowUserSystemctl(!h.sudo);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /Interactive authentication required/);
  });

  await t.test('node-ssh (ssh2) connects with the same key, and sftp works', async () => {
    const client = new NodeSSH();
    await client.connect({ host: '127.0.0.1', port: h.port, username: h.user, privateKeyPath: h.identityFile });
    try {
      assert.equal((await client.execCommand('whoami')).stdout, h.user);
      const local = path.join(h.tmpDir, 'upload.txt');
      fs.writeFileSync(local, 'via sftp\n');
      await client.putFile(local, `${h.workDir}/upload.txt`);
      assert.equal(fs.readFileSync(path.join(h.workDir, 'upload.txt'), 'utf8'), 'via sftp\n');
    } finally {
      client.dispose();
    }
  });

  await t.test('rsync over the real ssh client writes into workDir as the SSH user', async () => {
    const source = path.join(h.tmpDir, 'rsync-src');
    fs.mkdirSync(source);
    fs.writeFileSync(path.join(source, 'a.txt'), 'A');
    const result = await run('rsync', ['-a', '-e', `ssh ${h.sshArgs.join(' ')}`, `${source}/`, `${h.alias}:${h.workDir}/synced/`]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(fs.readFileSync(path.join(h.workDir, 'synced', 'a.txt'), 'utf8'), 'A');
    assert.equal(fs.statSync(path.join(h.workDir, 'synced', 'a.txt')).uid, Number((await h.ssh('id -u')).stdout));
  });

  await t.test('systemctl restart starts a detached service, restart replaces it, stop kills it', async () => {
    const port = await freePort();
    const appDir = path.join(h.workDir, 'app');
    fs.mkdirSync(appDir);
    fs.writeFileSync(
      path.join(appDir, 'server.cjs'),
      `require('node:http').createServer((req, res) => {
        if (req.url === '/info') return res.end(JSON.stringify({ pid: process.pid, uid: process.getuid(), cwd: process.cwd(), greeting: process.env.GREETING, motto: process.env.MOTTO, home: process.env.HOME }));
        res.end('ok');
      }).listen(Number(process.env.PORT), '127.0.0.1');\n`,
    );
    h.writeUnit(
      'smoke',
      `[Unit]
Description=Harness smoke service

[Service]
Type=simple
User=${h.user}
WorkingDirectory=${appDir}
Environment=PORT=${port} "GREETING=hello world"
Environment="MOTTO=one \\"two\\"\\nthree 100%%"
ExecStart=${process.execPath} ${appDir}/server.cjs

[Install]
WantedBy=multi-user.target
`,
    );
    const url = `http://127.0.0.1:${port}`;
    h.clearCalls();

    // The session closes although the service keeps running: the stand-in detached it.
    const restarted = await h.ssh(h.privileged('systemctl restart smoke'), { timeoutMs: 10_000 });
    assert.deepEqual(restarted, { code: 0, stdout: '', stderr: '' });
    assert.equal(await getWhenUp(url), 'ok');
    const info: { pid: number; uid: number; cwd: string; greeting: string; motto: string; home: string } = JSON.parse(await getWhenUp(`${url}/info`));
    const userUid = Number((await h.ssh('id -u')).stdout);
    assert.equal(h.servicePid('smoke'), info.pid);
    // Environment= unquoted like systemd, with the escapes renderUnit writes (\\" \\n %%).
    assert.deepEqual(info, { pid: info.pid, uid: userUid, cwd: appDir, greeting: 'hello world', motto: 'one "two"\nthree 100%', home: h.userHome });
    servicePids.push(info.pid);

    const active = await h.ssh('systemctl is-active smoke.service');
    assert.deepEqual(active, { code: 0, stdout: 'active\n', stderr: '' });
    const status = await h.ssh('systemctl status smoke');
    assert.equal(status.code, 0);
    assert.match(status.stdout, /● smoke\.service - Harness smoke service/);
    assert.match(status.stdout, /Active: active \(running\)/);
    assert.match(status.stdout, new RegExp(`Main PID: ${info.pid} `));

    const again = await h.ssh(h.privileged('systemctl restart smoke'), { timeoutMs: 10_000 });
    assert.equal(again.code, 0, again.stderr);
    const newPid: number = JSON.parse(await getWhenUp(`${url}/info`)).pid;
    servicePids.push(newPid);
    assert.notEqual(newPid, info.pid);
    assert.equal(processAlive(info.pid), false);
    assert.equal(h.servicePid('smoke'), newPid);

    const stopped = await h.ssh(h.privileged('systemctl stop smoke'), { timeoutMs: 10_000 });
    assert.equal(stopped.code, 0, stopped.stderr);
    assert.equal(processAlive(newPid), false);
    assert.equal(await isRefused(url), true);
    assert.deepEqual(await h.ssh('systemctl is-active smoke'), { code: 3, stdout: 'inactive\n', stderr: '' });
    assert.equal((await h.ssh('systemctl status smoke')).code, 3);

    assert.deepEqual(h.calls(), [
      'systemctl restart smoke',
      'systemctl is-active smoke.service',
      'systemctl status smoke',
      'systemctl restart smoke',
      'systemctl stop smoke',
      'systemctl is-active smoke',
      'systemctl status smoke',
    ]);
  });

  await t.test('unknown units fail like systemd', async () => {
    const restart = await h.ssh(h.privileged('systemctl restart nope'));
    assert.equal(restart.code, 5);
    assert.equal(restart.stderr, 'Failed to restart nope.service: Unit nope.service not found.\n');
    assert.equal((await h.ssh('systemctl status nope')).code, 4);
    assert.deepEqual(await h.ssh('systemctl is-active nope'), { code: 3, stdout: 'inactive\n', stderr: '' });
  });

  await t.test('docker compose calls are recorded, and can be made to fail', async () => {
    h.clearCalls();
    const pull = await h.ssh(`cd ${h.workDir} && docker compose -f a.yml -f b.yml pull`);
    assert.deepEqual(pull, { code: 0, stdout: '', stderr: '' });
    assert.equal((await h.ssh(h.privileged('docker compose --file a.yml -p shop up -d'))).code, 0);
    const ps = await h.ssh('docker compose -p shop ps');
    assert.match(ps.stdout, /^NAME\s+IMAGE\s+COMMAND\s+SERVICE\s+CREATED\s+STATUS\s+PORTS\nshop-app-1 /);
    assert.match((await h.ssh('docker --version')).stdout, /^Docker version /);
    h.setDockerFail(['up']);
    const up = await h.ssh('docker compose -f a.yml up -d');
    assert.equal(up.code, 1);
    assert.match(up.stderr, /simulated failure of "up"/);
    h.setDockerFail([]);
    assert.deepEqual(h.calls(), [
      'docker compose -f a.yml -f b.yml pull',
      'docker compose --file a.yml -p shop up -d',
      'docker compose -p shop ps',
      'docker --version',
      'docker compose -f a.yml up -d',
    ]);
    assert.deepEqual(
      h.callDetails().slice(0, 2).map(({ user, cwd }) => ({ user, cwd })),
      [{ user: h.user, cwd: h.workDir }, { user: h.systemctlUser, cwd: h.userHome }],
    );
  });

  await t.test('stopSshd refuses connections, startSshd brings it back with the same host key', async () => {
    await h.stopSshd();
    const down = await h.ssh('true');
    assert.equal(down.code, 255);
    assert.match(down.stderr, /Connection refused/);
    await h.startSshd();
    assert.deepEqual(await h.ssh('whoami'), { code: 0, stdout: `${h.user}\n`, stderr: '' });
  });

  await t.test('stop() leaves no sshd, no service and no temp dir behind', async () => {
    h.writeUnit('leftover', `[Service]\nExecStart=/bin/sleep 300\n`);
    assert.equal((await h.ssh(h.privileged('systemctl start leftover'), { timeoutMs: 10_000 })).code, 0);
    const leftover = h.servicePid('leftover');
    assert.ok(leftover !== null);
    const currentSshd = Number(fs.readFileSync(path.join(h.tmpDir, 'sshd.pid'), 'utf8'));
    await h.stop();
    assert.equal(processAlive(leftover), false);
    assert.equal(processAlive(currentSshd), false);
    assert.equal(processAlive(sshdPid), false);
    for (const pid of servicePids) assert.equal(processAlive(pid), false);
    assert.equal(fs.existsSync(h.tmpDir), false);
  });
});
