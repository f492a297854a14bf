// Certificates made by ssh-keygen, read back by parseHostCertificate and compared with what
// `ssh-keygen -L` prints of them; the CA signature check against a tampered copy.
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { OPENSSH_DEFAULT_CA_SIGNATURE_ALGORITHMS } from '../../src/transport/ssh/algorithm-lists.ts';
import { certificateSignatureValid, checkHostCertificate, parseHostCertificate, type HostCertificate } from '../../src/transport/ssh/host-certificate.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'host-certificate-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const keygen = (...args: string[]) => execFileSync('ssh-keygen', args, { cwd: dir, encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
const fingerprint = (blob: Buffer) => `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
const blobOf = (file: string) => Buffer.from(readFileSync(path.join(dir, file), 'utf8').split(' ')[1], 'base64');

function certify(name: string, hostType: string, caType: string, options: string[]): { cert: HostCertificate; listing: string; caBlob: Buffer } {
  keygen('-q', '-t', caType, '-N', '', '-f', `${name}_ca`);
  keygen('-q', '-t', hostType, '-N', '', '-f', `${name}_host`);
  keygen('-q', '-s', `${name}_ca`, '-I', `${name} id`, ...options, `${name}_host.pub`);
  const cert = parseHostCertificate(blobOf(`${name}_host-cert.pub`));
  assert.ok(!(cert instanceof Error), String(cert));
  return { cert, listing: keygen('-L', '-f', `${name}_host-cert.pub`), caBlob: blobOf(`${name}_ca.pub`) };
}

const lookupTrusting = (caBlob: Buffer) => ({ keys: [], revoked: [], certAuthorities: [{ type: 'x', blob: caBlob, file: 'known_hosts', line: 1 }] });
const iso = (seconds: bigint) => new Date(Number(seconds) * 1000).toISOString().slice(0, 19);

describe('host certificates read as ssh-keygen -L lists them', () => {
  for (const [hostType, caType] of [['ed25519', 'ed25519'], ['ecdsa', 'rsa'], ['rsa', 'ecdsa']]) {
    test(`${hostType} host key, ${caType} CA: type, key, CA, id, serial, validity, principals`, () => {
      const { cert, listing, caBlob } = certify(`${hostType}-${caType}`, hostType, caType, ['-h', '-n', 'a.example,b.example', '-V', '20250101:20300101', '-z', '42']);
      const field = (name: string) => new RegExp(`^\\s+${name}: (.*)$`, 'm').exec(listing)?.[1];
      assert.equal(field('Type'), `${cert.type} host certificate`);
      assert.equal(cert.certType, 2);
      assert.equal(fingerprint(cert.publicBlob), fingerprint(blobOf(`${hostType}-${caType}_host.pub`)), 'the certified key is the host key');
      assert.match(field('Signing CA')!, new RegExp(`^\\S+ ${fingerprint(caBlob).replace(/[+/]/g, '\\$&')} `));
      assert.ok(cert.signatureKey.equals(caBlob));
      assert.equal(field('Key ID'), `"${hostType}-${caType} id"`);
      assert.equal(field('Serial'), String(cert.serial));
      assert.equal(field('Valid'), `from ${iso(cert.validAfter)} to ${iso(cert.validBefore)}`);
      assert.deepEqual(cert.principals, listing.split('Principals:')[1].split('Critical Options:')[0].trim().split(/\s+/));
      assert.deepEqual(cert.criticalOptions, []);
      assert.equal(certificateSignatureValid(cert), true);
      assert.deepEqual(checkHostCertificate(lookupTrusting(caBlob), cert, { principal: 'b.example', now: BigInt(Date.UTC(2026, 0, 1) / 1000), signatureAlgorithms: OPENSSH_DEFAULT_CA_SIGNATURE_ALGORITHMS }).status, 'trusted');
    });
  }

  test('a certificate changed after signing (its key id) fails the signature check', () => {
    const { cert, caBlob } = certify('tampered', 'ed25519', 'ed25519', ['-h', '-n', 'a.example', '-V', '20250101:20300101']);
    const blob = Buffer.from(blobOf('tampered_host-cert.pub'));
    const at = blob.indexOf('tampered id');
    blob[at] = 'T'.charCodeAt(0);
    const forged = parseHostCertificate(blob) as HostCertificate;
    assert.equal(forged.keyId, 'Tampered id');
    assert.equal(certificateSignatureValid(forged), false);
    assert.deepEqual(checkHostCertificate(lookupTrusting(caBlob), forged, { principal: 'a.example', now: BigInt(Date.UTC(2026, 0, 1) / 1000), signatureAlgorithms: OPENSSH_DEFAULT_CA_SIGNATURE_ALGORITHMS }), { status: 'invalid', reason: 'its signature does not verify with an allowed algorithm (CASignatureAlgorithms) and key size', entry: lookupTrusting(caBlob).certAuthorities[0] });
    assert.equal(certificateSignatureValid(cert), true);
  });

  test('validity is [valid after, valid before): the last second is already expired', () => {
    const { cert, caBlob } = certify('edges', 'ed25519', 'ed25519', ['-h', '-n', 'a.example', '-V', '20250101:20300101']);
    const check = (at: bigint) => checkHostCertificate(lookupTrusting(caBlob), cert, { principal: 'a.example', now: at, signatureAlgorithms: OPENSSH_DEFAULT_CA_SIGNATURE_ALGORITHMS });
    assert.equal(check(cert.validAfter - 1n).status, 'invalid');
    assert.equal(check(cert.validAfter).status, 'trusted');
    assert.equal(check(cert.validBefore - 1n).status, 'trusted');
    assert.deepEqual(check(cert.validBefore), { status: 'invalid', reason: 'it has expired', entry: lookupTrusting(caBlob).certAuthorities[0] });
  });

  test('not a certificate, or cut short: an error, not a throw', () => {
    assert.match(String(parseHostCertificate(blobOf('edges_host.pub'))), /unsupported certificate type ssh-ed25519/);
    const blob = blobOf('edges_host-cert.pub');
    assert.match(String(parseHostCertificate(blob.subarray(0, blob.length - 10))), /malformed certificate/);
    assert.match(String(parseHostCertificate(Buffer.concat([blob, Buffer.from([0])]))), /trailing data/);
  });

  // Made by hand (ssh-keygen makes no RSA key under 1024 bits, and signs nothing malformed).
  const wire = (value: Buffer | string) => {
    const bytes = typeof value === 'string' ? Buffer.from(value) : value;
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    return Buffer.concat([length, bytes]);
  };
  const mpint = (base64url: string) => {
    const bytes = Buffer.from(base64url, 'base64url');
    return bytes[0] & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
  };
  function handmade(caBits: number, junkAfterSignature = false) {
    const ca = generateKeyPairSync('rsa', { modulusLength: caBits });
    const jwk = ca.publicKey.export({ format: 'jwk' });
    const caBlob = Buffer.concat([wire('ssh-rsa'), wire(mpint(jwk.e!)), wire(mpint(jwk.n!))]);
    const hostKey = Buffer.from(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url');
    const [serial, after, before] = [Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(8)];
    after.writeBigUInt64BE(0n);
    before.writeBigUInt64BE(2n ** 64n - 1n);
    const type = Buffer.alloc(4);
    type.writeUInt32BE(2);
    const body = Buffer.concat([wire('ssh-ed25519-cert-v01@openssh.com'), wire(randomBytes(32)), wire(hostKey), serial, type, wire('id'), wire(wire('h.example')), after, before, wire(''), wire(''), wire(''), wire(caBlob)]);
    const signature = Buffer.concat([wire('rsa-sha2-256'), wire(sign('sha256', body, ca.privateKey)), junkAfterSignature ? Buffer.from([0]) : Buffer.alloc(0)]);
    const cert = parseHostCertificate(Buffer.concat([body, wire(signature)])) as HostCertificate;
    return checkHostCertificate(lookupTrusting(caBlob), cert, { principal: 'h.example', now: 1_800_000_000n, signatureAlgorithms: OPENSSH_DEFAULT_CA_SIGNATURE_ALGORITHMS }).status;
  }

  test('a CA whose RSA key is under 1024 bits is not trusted (ssh-keygen -L refuses such a certificate too)', () => {
    assert.equal(handmade(2048), 'trusted', 'the same certificate from a 2048-bit CA');
    assert.equal(handmade(768), 'invalid');
  });

  test('bytes after the CA signature make it invalid', () => {
    assert.equal(handmade(2048, true), 'invalid');
  });

  test('CASignatureAlgorithms: a signature made with an algorithm it leaves out is not accepted', () => {
    const { cert, caBlob } = certify('ca-algs', 'ed25519', 'rsa', ['-h', '-n', 'a.example', '-V', '20250101:20300101']);
    const at = { principal: 'a.example', now: BigInt(Date.UTC(2026, 0, 1) / 1000) };
    assert.equal(checkHostCertificate(lookupTrusting(caBlob), cert, { ...at, signatureAlgorithms: ['rsa-sha2-512'] }).status, 'trusted');
    assert.equal(checkHostCertificate(lookupTrusting(caBlob), cert, { ...at, signatureAlgorithms: ['ssh-ed25519', 'rsa-sha2-256'] }).status, 'invalid');
  });
});
