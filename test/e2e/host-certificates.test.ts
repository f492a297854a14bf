// Host certificates against `@cert-authority` lines, with OpenSSH's own client as the oracle: one sshd
// whose host certificate (signed by ssh-keygen) changes between cases; for each case the real `ssh`
// (BatchMode, StrictHostKeyChecking yes, the same ~/.ssh/config and known_hosts) and our connection
// must agree whether the host is trusted — and ours, when it refuses, says why in one line.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { SshHost } from '../../src/transport/ssh/ssh-host.ts';
import { createSshFiles } from '../../src/transport/ssh/ssh-files.ts';
import { skipWithoutSshd, startSshdHarness, type HostKeyType, type SshdHarness } from '../helpers/sshd.ts';

const skip = skipWithoutSshd();

interface Case {
  name: string;
  /** Which of the sshd's host keys is certified. */
  hostKey: HostKeyType;
  ca: 'ed25519' | 'rsa' | 'ecdsa';
  /** ssh-keygen -s options besides -s and -I. */
  sign: (port: number) => string[];
  /**
   * The known_hosts text, given the CA public keys, the host's name there (`[127.0.0.1]:port`), and the
   * certified host key as a plain key and as its certificate (`type base64` each).
   */
  knownHosts: (cas: Record<Case['ca'], string>, name: string, host: { plain: string; cert: string }) => string;
  /** More lines for the alias's block in ~/.ssh/config (the harness's block sets neither). */
  sshConfig?: string[];
  /** Whether OpenSSH connects (checked against the real ssh too). */
  trusted: boolean;
  /** What our refusal says. */
  refusal?: RegExp;
}

const day = ['-V', '-1d:+1d'];
const caLine = (pattern: string, key: string) => `@cert-authority ${pattern} ${key}\n`;

const CASES: Case[] = [
  { name: 'an Ed25519 host certificate from an Ed25519 CA, principal the host name', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (cas, name) => caLine(name, cas.ed25519), trusted: true },
  { name: 'an ECDSA host certificate from an RSA CA (rsa-sha2-512), CA line with a wildcard', hostKey: 'ecdsa', ca: 'rsa', sign: () => ['-h', '-n', 'other.example,127.0.0.1', ...day], knownHosts: (cas) => caLine('*', cas.rsa), trusted: true },
  { name: 'an RSA host certificate from an ECDSA P-384 CA', hostKey: 'rsa', ca: 'ecdsa', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (cas, name) => caLine(name, cas.ecdsa), trusted: true },
  { name: 'a certificate with no principals', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', ...day], knownHosts: (cas, name) => caLine(name, cas.ed25519), trusted: true },
  { name: 'a certificate for another host name', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', 'web.example', ...day], knownHosts: (cas, name) => caLine(name, cas.ed25519), trusted: false, refusal: /host certificate of .* is not valid: its principals \(web\.example\) do not include 127\.0\.0\.1/ },
  { name: 'a certificate naming the host with its port', hostKey: 'ed25519', ca: 'ed25519', sign: (port) => ['-h', '-n', `[127.0.0.1]:${port}`, ...day], knownHosts: (cas, name) => caLine(name, cas.ed25519), trusted: false, refusal: /do not include 127\.0\.0\.1/ },
  { name: 'an expired certificate', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', '-V', '20200101:20200102'], knownHosts: (cas, name) => caLine(name, cas.ed25519), trusted: false, refusal: /is not valid: it has expired/ },
  { name: 'a certificate not yet valid', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', '-V', '+1d:+2d'], knownHosts: (cas, name) => caLine(name, cas.ed25519), trusted: false, refusal: /is not valid: it is not yet valid/ },
  { name: 'a user certificate presented as a host certificate', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-n', '127.0.0.1', ...day], knownHosts: (cas, name) => caLine(name, cas.ed25519), trusted: false, refusal: /is not valid: it is not a host certificate/ },
  { name: 'a certificate from a CA that known_hosts trusts for other hosts only', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (cas) => caLine('*.example.org', cas.ed25519), trusted: false, refusal: /host key of .* is unknown: check it/ },
  { name: 'a certificate from another CA than the one trusted for the host', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (cas, name) => caLine(name, cas.rsa), trusted: false, refusal: /trusts a certificate authority for it, but the host presented a certificate \(ssh-ed25519-cert-v01@openssh\.com\) signed by another CA/ },
  { name: 'a certificate whose CA is @revoked', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (cas, name) => caLine(name, cas.ed25519) + `@revoked * ${cas.ed25519}\n`, trusted: false, refusal: /its certificate authority is marked @revoked/ },
  // Revoking a certificate revokes the key in it (ssh compares public keys), whichever line trusts it.
  { name: 'the host certificate itself on a @revoked line', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (cas, name, host) => caLine(name, cas.ed25519) + `@revoked * ${host.cert}\n`, trusted: false, refusal: /its certificate key is marked @revoked/ },
  { name: 'a plain line trusting the key whose certificate is on a @revoked line', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (_cas, name, host) => `${name} ${host.plain}\n@revoked * ${host.cert}\n`, trusted: false, refusal: /is marked @revoked/ },
  // A certificate that fails its checks is no worse than its plain key: a plain line still trusts it.
  { name: 'an expired certificate whose plain key a line trusts', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', '-V', '20200101:20200102'], knownHosts: (cas, name, host) => caLine(name, cas.ed25519) + `${name} ${host.plain}\n`, trusted: true },
  { name: 'a certificate for another host whose plain key a line trusts', hostKey: 'ecdsa', ca: 'rsa', sign: () => ['-h', '-n', 'web.example', ...day], knownHosts: (cas, name, host) => caLine(name, cas.rsa) + `${name} ${host.plain}\n`, trusted: true },
  { name: "CASignatureAlgorithms leaving out the CA's rsa-sha2-512", hostKey: 'ecdsa', ca: 'rsa', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (cas, name) => caLine(name, cas.rsa), sshConfig: ['CASignatureAlgorithms ssh-ed25519,rsa-sha2-256'], trusted: false, refusal: /does not verify with an allowed algorithm \(CASignatureAlgorithms\)/ },
  { name: 'HostKeyAlgorithms without certificates, known_hosts with only a CA line', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (cas, name) => caLine(name, cas.ed25519), sshConfig: ['HostKeyAlgorithms ssh-ed25519,rsa-sha2-512'], trusted: false, refusal: /presented a plain ssh-ed25519 key/ },
  { name: 'HostKeyAlgorithms with certificates put first (^)', hostKey: 'ecdsa', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (cas, name) => caLine(name, cas.ed25519), sshConfig: ['HostKeyAlgorithms ^ecdsa-sha2-nistp256-cert-v01@openssh.com'], trusted: true },
  // On another port than 22, ssh looks at the bare host name when nothing is known under [host]:port.
  { name: 'a CA line for the bare host name (the host is on another port)', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (cas) => caLine('127.0.0.1', cas.ed25519), trusted: true },
  { name: 'a CA line that excludes [host]:port but matches the bare name', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (cas, name) => caLine(`!${name},*`, cas.ed25519), trusted: true },
  { name: 'a plain key filed under the bare host name', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (_cas, _name, host) => `127.0.0.1 ${host.plain}\n`, trusted: true },
  // What is offered: the types known under [host]:port first, also after a `+` or `-` HostKeyAlgorithms.
  { name: 'HostKeyAlgorithms +ssh-rsa, the host known by its RSA key only', hostKey: 'rsa', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (_cas, name, host) => `${name} ${host.plain}\n`, sshConfig: ['HostKeyAlgorithms +ssh-rsa'], trusted: true },
  { name: 'HostKeyAlgorithms -ssh-dss, the host known by its RSA key only', hostKey: 'rsa', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (_cas, name, host) => `${name} ${host.plain}\n`, sshConfig: ['HostKeyAlgorithms -ssh-dss'], trusted: true },
  { name: 'known by its RSA key under [host]:port, by another Ed25519 key under the bare name', hostKey: 'rsa', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (cas, name, host) => `${name} ${host.plain}\n127.0.0.1 ${cas.ed25519}\n`, trusted: true },
  { name: 'known by its RSA key under [host]:port, a CA line for the bare name', hostKey: 'rsa', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (cas, name, host) => `${name} ${host.plain}\n` + caLine('127.0.0.1', cas.ed25519), trusted: true },
  // Nothing known: certificates are asked for first (OpenSSH's default order); this one's CA is not
  // trusted, so its RSA key is looked up, under [host]:port, then under the bare name, which knows it.
  { name: 'nothing under [host]:port, its RSA key under the bare name, an RSA certificate from an untrusted CA', hostKey: 'rsa', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (_cas, _name, host) => `127.0.0.1 ${host.plain}\n`, trusted: true },
  { name: 'a CA line for the same host on another port', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (cas) => caLine('[127.0.0.1]:2', cas.ed25519), trusted: false, refusal: /is unknown: check it/ },
];

describe('host certificates as OpenSSH checks them', { skip }, () => {
  let harness: SshdHarness;
  let dir: string;
  let sshConfig: string;
  const cas = {} as Record<Case['ca'], string>;

  before(async () => {
    // Three host keys; each case writes known_hosts and the certificate (which sshd loads at its start).
    dir = fs.mkdtempSync('/tmp/host-certs-');
    harness = await startSshdHarness({ aliases: ['certified'], hostKeyTypes: ['ed25519', 'ecdsa', 'rsa'], sshdConfig: [`HostCertificate ${dir}/host-cert.pub`] });
    for (const [type, bits] of [['ed25519', []], ['rsa', ['-b', '2048']], ['ecdsa', ['-b', '384']]] as const) {
      execFileSync('ssh-keygen', ['-q', '-t', type, ...bits, '-N', '', '-C', `${type} CA`, '-f', path.join(dir, `ca_${type}`)]);
      cas[type] = fs.readFileSync(path.join(dir, `ca_${type}.pub`), 'utf8').trim();
    }
    sshConfig = fs.readFileSync(harness.sshConfigFile, 'utf8');
  });
  after(async () => {
    await harness?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** Certifies the case's host key, writes known_hosts and restarts sshd with the new certificate. */
  async function arrange(c: Case): Promise<void> {
    fs.rmSync(path.join(dir, 'host-cert.pub'), { force: true });
    fs.copyFileSync(path.join(harness.tmpDir, `ssh_host_${c.hostKey}_key.pub`), path.join(dir, 'host.pub'));
    execFileSync('ssh-keygen', ['-q', '-s', path.join(dir, `ca_${c.ca}`), '-I', 'test host', ...c.sign(harness.port), path.join(dir, 'host.pub')]);
    const keyOf = (file: string) => fs.readFileSync(path.join(dir, file), 'utf8').split(' ').slice(0, 2).join(' ');
    fs.writeFileSync(harness.knownHostsFile, c.knownHosts(cas, `[127.0.0.1]:${harness.port}`, { plain: keyOf('host.pub'), cert: keyOf('host-cert.pub') }));
    fs.writeFileSync(harness.sshConfigFile, c.sshConfig ? `${sshConfig}\nHost certified\n${c.sshConfig.map((line) => `  ${line}\n`).join('')}` : sshConfig);
    await harness.stopSshd();
    await harness.startSshd();
  }

  const openssh = () =>
    spawnSync('ssh', [...harness.sshArgs, 'certified', 'true'], { encoding: 'utf8', timeout: 15_000, env: { ...process.env, HOME: harness.home, SSH_AUTH_SOCK: '' } });

  for (const c of CASES) {
    test(`${c.name}: ${c.trusted ? 'trusted' : 'refused'}, as by ssh`, async () => {
      await arrange(c);
      const oracle = openssh();
      assert.equal(oracle.status === 0, c.trusted, `OpenSSH ${oracle.status === 0 ? 'connected' : `refused: ${oracle.stderr.trim()}`}`);
      const connecting = SshHost.connect('certified', { home: harness.home, connectTimeoutMs: 5000, env: {}, files: createSshFiles() });
      if (c.trusted) {
        const host = await connecting;
        try {
          assert.equal((await host.exec({ name: 'probe', command: 'echo ok' })).stdout, 'ok\n');
        } finally {
          await host.close();
        }
      } else {
        await assert.rejects(connecting, (error: Error) => {
          assert.equal(error.name, 'HostKeyError');
          assert.match(error.message, c.refusal!);
          assert.doesNotMatch(error.message, /\n/);
          return true;
        });
      }
    });
  }

  test('RevokedHostKeys is refused with a one-line reason (ssh would consult it; its revocations cannot be checked here)', async () => {
    await arrange(CASES[0]);
    const spec = path.join(dir, 'revoke-nothing');
    fs.writeFileSync(spec, '');
    execFileSync('ssh-keygen', ['-q', '-k', '-f', path.join(dir, 'krl'), spec]);
    fs.writeFileSync(harness.sshConfigFile, `${sshConfig}\nHost certified\n  RevokedHostKeys ${dir}/krl\n`);
    assert.equal(openssh().status, 0, 'OpenSSH reads the list and connects');
    await assert.rejects(SshHost.connect('certified', { home: harness.home, connectTimeoutMs: 5000, env: {}, files: createSshFiles() }), {
      message: /^cannot connect to certified: RevokedHostKeys \(\S+\) is not supported: its revocations would not be checked; list revoked keys as @revoked lines in known_hosts instead$/,
    });
  });
});
