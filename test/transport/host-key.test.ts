// The host key check's words and its offer of algorithms, on real keys from ssh-keygen.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { HostKeyCheckState, hostKeyMessage, keyscanCommand } from '../../src/transport/ssh/host-key.ts';
import { createKnownHostsFiles } from '../../src/transport/ssh/known-hosts.ts';
import { HostKeyError } from '../../src/transport/ssh/errors.ts';

const target = { hostname: '127.0.0.1', port: 2222, hostKeyAlias: undefined, userKnownHostsFile: '/home/d/.ssh/known_hosts' };

test('unknown: the ssh-keyscan line that trusts the key, filed under HostKeyAlias when one is set', () => {
  assert.equal(keyscanCommand(target), 'ssh-keyscan -p 2222 127.0.0.1 >> /home/d/.ssh/known_hosts');
  assert.equal(keyscanCommand({ ...target, port: 22, userKnownHostsFile: '/a b/kh' }), "ssh-keyscan 127.0.0.1 >> '/a b/kh'");
  assert.equal(keyscanCommand({ ...target, hostKeyAlias: 'web1' }), "ssh-keyscan -p 2222 127.0.0.1 | sed 's/^[^ ]*/web1/' >> /home/d/.ssh/known_hosts");
  assert.equal(keyscanCommand({ ...target, reachedVia: 'bastion' }), "ssh bastion 'ssh-keyscan -p 2222 127.0.0.1' >> /home/d/.ssh/known_hosts");
  assert.equal(
    hostKeyMessage(target, { status: 'unknown' }, 'ssh-ed25519'),
    'host key of [127.0.0.1]:2222 is unknown: check it, then trust it with: ssh-keyscan -p 2222 127.0.0.1 >> /home/d/.ssh/known_hosts',
  );
  assert.equal(
    hostKeyMessage(target, { status: 'unknown' }, 'ssh-ed25519', { file: '/etc/ssh/ssh_known_hosts', line: 3 }),
    'host key of [127.0.0.1]:2222 is unknown: /etc/ssh/ssh_known_hosts line 3 trusts a certificate authority for it, but the host presented ' +
      "a plain ssh-ed25519 key; give the host a certificate from that CA (sshd's HostCertificate), " +
      'or check its plain key, then trust it with: ssh-keyscan -p 2222 127.0.0.1 >> /home/d/.ssh/known_hosts',
  );
  assert.match(
    hostKeyMessage(target, { status: 'unknown' }, 'ssh-ed25519-cert-v01@openssh.com', { file: '/etc/ssh/ssh_known_hosts', line: 3 }),
    /but the host presented a certificate \(ssh-ed25519-cert-v01@openssh\.com\) signed by another CA; /,
  );
  assert.equal(
    hostKeyMessage(target, { status: 'bad-certificate', reason: 'it has expired', entry: { file: '/k/known_hosts', line: 7 } }, 'ssh-ed25519-cert-v01@openssh.com'),
    'host certificate of [127.0.0.1]:2222 (ssh-ed25519-cert-v01@openssh.com) is not valid: it has expired (its CA is trusted by /k/known_hosts line 7): refusing to connect',
  );
});

test('changed: names the file and line, warns of an attack, never advises ssh-keygen -R', () => {
  const entry = { type: 'ssh-rsa', blob: Buffer.alloc(0), file: '/home/d/.ssh/known_hosts', line: 7 };
  const message = hostKeyMessage(target, { status: 'changed', entry }, 'ssh-ed25519');
  assert.equal(
    message,
    'host key of [127.0.0.1]:2222 has CHANGED: it presented a ssh-ed25519 key that /home/d/.ssh/known_hosts line 7 does not hold ' +
      '(it holds a ssh-rsa key). This may be a man-in-the-middle attack: verify the new key out of band (e.g. ssh-keygen -lf on the ' +
      "host's console) before you change that line",
  );
  assert.doesNotMatch(message, /ssh-keygen -R|remove/);
});

test('revoked: refused, whatever else known_hosts says', () => {
  assert.equal(
    hostKeyMessage({ ...target, hostKeyAlias: 'web1' }, { status: 'revoked' }, 'ssh-ed25519'),
    'host key of web1 (ssh-ed25519) is marked @revoked in known_hosts: refusing to connect',
  );
});

describe('HostKeyCheckState over a known_hosts file', () => {
  let dir = '';
  const keys: Record<string, { line: string; blob: Buffer }> = {};

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'host-key-test-'));
    for (const [name, type] of [['rsa', 'rsa'], ['ecdsa', 'ecdsa'], ['ed', 'ed25519'], ['other', 'ed25519']]) {
      execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-f', path.join(dir, name)]);
      const [keyType, base64] = readFileSync(path.join(dir, `${name}.pub`), 'utf8').split(' ');
      keys[name] = { line: `${keyType} ${base64}`, blob: Buffer.from(base64, 'base64') };
    }
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const state = (lines: string[]) => {
    const file = path.join(dir, `kh-${Math.random()}`);
    writeFileSync(file, lines.join('\n') + '\n');
    return new HostKeyCheckState({ ...target, knownHostsFiles: [path.join(dir, 'absent'), file], userKnownHostsFile: file }, createKnownHostsFiles());
  };

  test('an RSA-only host: RSA algorithms offered first; ECDSA-only: ECDSA first', () => {
    assert.deepEqual(state([`[127.0.0.1]:2222 ${keys.rsa.line}`]).algorithms.slice(0, 3), ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    assert.deepEqual(state([`[127.0.0.1]:2222 ${keys.ecdsa.line}`]).algorithms[0], 'ecdsa-sha2-nistp256');
  });

  test('trusted, changed (with file and line), revoked over a plain line, unknown', () => {
    const known = state([`other.example ${keys.other.line}`, `[127.0.0.1]:2222 ${keys.ed.line}`, `@revoked [127.0.0.1]:2222 ${keys.rsa.line}`, `[127.0.0.1]:2222 ${keys.rsa.line}`]);
    assert.equal(known.verify(keys.ed.blob), true);
    assert.equal(known.refusal(), undefined);
    assert.equal(known.verify(keys.rsa.blob), false);
    assert.match(known.refusal()!.message, /@revoked/);
    assert.equal(known.verify(keys.other.blob), false);
    const changed = known.refusal()!;
    assert.ok(changed instanceof HostKeyError);
    assert.match(changed.message, /kh-[0-9.]+ line 4 does not hold/);
    const unknown = state([`other.example ${keys.other.line}`]);
    assert.equal(unknown.verify(keys.ed.blob), false);
    assert.match(unknown.refusal()!.message, /is unknown: check it/);
    // A CA trusted for the host (its public key as a @cert-authority line): named, and why it cannot help.
    const byCa = state([`@cert-authority [127.0.0.1]:2222 ${keys.other.line}`]);
    assert.equal(byCa.verify(keys.ed.blob), false);
    assert.match(byCa.refusal()!.message, /is unknown: \S*kh-[0-9.]+ line 1 trusts a certificate authority for it, but the host presented a plain ssh-ed25519 key/);
  });

  test('an RSA host key under 1024 bits is refused, even where a known_hosts line holds it (ssh refuses both)', () => {
    const jwk = generateKeyPairSync('rsa', { modulusLength: 768 }).publicKey.export({ format: 'jwk' });
    const mpint = (value: string) => {
      const bytes = Buffer.from(value, 'base64url');
      return bytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
    };
    const wire = (value: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, value.length]), value]);
    const blob = Buffer.concat([wire(Buffer.from('ssh-rsa')), wire(mpint(jwk.e!)), wire(mpint(jwk.n!))]);
    const check = state([`[127.0.0.1]:2222 ssh-rsa ${blob.toString('base64')}`]);
    assert.deepEqual(check.algorithms.slice(0, 1), ['ssh-ed25519-cert-v01@openssh.com'], 'the weak line is skipped: nothing is known');
    assert.equal(check.verify(blob), false);
    assert.equal(check.refusal()!.message, 'host key of [127.0.0.1]:2222 is a 768-bit RSA key: OpenSSH refuses RSA keys under 1024 bits, and so does this client');
  });
});
