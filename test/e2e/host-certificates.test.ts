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
  /** The known_hosts text, given the CA public keys and the host's name there. */
  knownHosts: (cas: Record<Case['ca'], string>, name: string) => string;
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
  { name: 'a certificate from another CA than the one trusted for the host', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (cas, name) => caLine(name, cas.rsa), trusted: false, refusal: /trusts a certificate authority for it, but the host presented a plain ssh-ed25519 key/ },
  { name: 'a certificate whose CA is @revoked', hostKey: 'ed25519', ca: 'ed25519', sign: () => ['-h', '-n', '127.0.0.1', ...day], knownHosts: (cas, name) => caLine(name, cas.ed25519) + `@revoked * ${cas.ed25519}\n`, trusted: false, refusal: /is marked @revoked/ },
];

describe('host certificates as OpenSSH checks them', { skip }, () => {
  let harness: SshdHarness;
  let dir: string;
  const cas = {} as Record<Case['ca'], string>;

  before(async () => {
    // Three host keys; each case writes known_hosts and the certificate (which sshd loads at its start).
    dir = fs.mkdtempSync('/tmp/host-certs-');
    harness = await startSshdHarness({ aliases: ['certified'], hostKeyTypes: ['ed25519', 'ecdsa', 'rsa'], sshdConfig: [`HostCertificate ${dir}/host-cert.pub`] });
    for (const [type, bits] of [['ed25519', []], ['rsa', ['-b', '2048']], ['ecdsa', ['-b', '384']]] as const) {
      execFileSync('ssh-keygen', ['-q', '-t', type, ...bits, '-N', '', '-C', `${type} CA`, '-f', path.join(dir, `ca_${type}`)]);
      cas[type] = fs.readFileSync(path.join(dir, `ca_${type}.pub`), 'utf8').trim();
    }
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
    fs.writeFileSync(harness.knownHostsFile, c.knownHosts(cas, `[127.0.0.1]:${harness.port}`));
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
});
