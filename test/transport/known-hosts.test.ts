import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CERT_HOST_KEY_ALGORITHMS,
  checkHostKey,
  createKnownHostsFiles,
  hostKeyAlgorithmsFor,
  knownHostsName,
  lookUpKnownHosts,
  readKnownHosts,
  type KnownHostsLookup,
} from '../../src/transport/ssh/known-hosts.ts';

// Real keys from ssh-keygen; `ssh-keygen -F <name> -f <file>` is the oracle for which lines match.
interface PublicKey {
  type: string;
  base64: string;
  blob: Buffer;
}

function generateKey(dir: string, name: string, type: string, bits?: number): PublicKey {
  const file = path.join(dir, name);
  execFileSync('ssh-keygen', ['-q', '-t', type, ...(bits ? ['-b', String(bits)] : []), '-N', '', '-C', name, '-f', file]);
  const [keyType, base64] = readFileSync(`${file}.pub`, 'utf8').split(' ');
  return { type: keyType, base64, blob: Buffer.from(base64, 'base64') };
}

const line = (hosts: string, key: PublicKey, comment = '') => `${hosts} ${key.type} ${key.base64}${comment ? ` ${comment}` : ''}`;

/** A lookup with base64 blobs, so a failed comparison reads well. */
function readable(lookup: KnownHostsLookup) {
  const entry = ({ type, blob, file, line: lineNumber }: KnownHostsLookup['keys'][number]) => ({ type, key: blob.toString('base64'), file, line: lineNumber });
  return { keys: lookup.keys.map(entry), revoked: lookup.revoked.map((blob) => blob.toString('base64')), certAuthorities: lookup.certAuthorities.map(entry) };
}

/** What ssh-keygen -F reports for a name: `# Host <name> found: line N [CA|REVOKED]` and the line. */
function findWithSshKeygen(file: string, name: string): KnownHostsLookup {
  const run = spawnSync('ssh-keygen', ['-F', name, '-f', file], { encoding: 'utf8' });
  const lookup: KnownHostsLookup = { keys: [], revoked: [], certAuthorities: [] };
  const lines = run.stdout.split('\n');
  lines.forEach((header, index) => {
    const found = /^# Host .* found: line (\d+) ?(CA|REVOKED)?$/.exec(header);
    if (!found) return;
    const fields = lines[index + 1].trim().replace(/^@\S+\s+/, '').split(/\s+/);
    const key = { type: fields[1], blob: Buffer.from(fields[2], 'base64'), file, line: Number(found[1]) };
    if (found[2] === 'REVOKED') lookup.revoked.push(key.blob);
    else (found[2] === 'CA' ? lookup.certAuthorities : lookup.keys).push(key);
  });
  return lookup;
}

describe('known_hosts', () => {
  const files = createKnownHostsFiles();
  let dir = '';
  let rsa: PublicKey, ecdsa256: PublicKey, ecdsa384: PublicKey, ed1: PublicKey, ed2: PublicKey, edRevoked: PublicKey, edCa: PublicKey;
  let plainFile = '';
  let hashedFile = '';

  before(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'known-hosts-oracle-'));
    rsa = generateKey(dir, 'rsa', 'rsa', 2048);
    ecdsa256 = generateKey(dir, 'ecdsa256', 'ecdsa', 256);
    ecdsa384 = generateKey(dir, 'ecdsa384', 'ecdsa', 384);
    ed1 = generateKey(dir, 'ed1', 'ed25519');
    ed2 = generateKey(dir, 'ed2', 'ed25519');
    edRevoked = generateKey(dir, 'edrevoked', 'ed25519');
    edCa = generateKey(dir, 'edca', 'ed25519');
    const text = [
      '# a comment',
      line('web.example,192.0.2.10', ed1, 'first'),
      line('[web.example]:2222', ecdsa256),
      line('*.example,!bad.example', rsa),
      line('other.example', ed2),
      `@revoked * ${edRevoked.type} ${edRevoked.base64}`,
      line('web.example', edRevoked, 'trusted here, revoked above'),
      `@cert-authority *.example ${edCa.type} ${edCa.base64}`,
      '',
      `  ${line('WEB.EXAMPLE', ed2)}`,
      line('web.exam?le', ecdsa384),
      line('only-rsa.example', rsa),
      line('[only-rsa.example]:2222,plain.example', ed2),
    ].join('\n');
    plainFile = path.join(dir, 'known_hosts');
    writeFileSync(plainFile, `${text}\n`);
    hashedFile = path.join(dir, 'known_hosts_hashed');
    writeFileSync(hashedFile, `${text}\n`);
    execFileSync('ssh-keygen', ['-q', '-H', '-f', hashedFile], { stdio: 'ignore' });
    // ssh-keygen -H refuses a file with an unknown marker: add that line after hashing.
    for (const file of [plainFile, hashedFile]) writeFileSync(file, `${readFileSync(file, 'utf8')}@bogus web.example ${ed1.type} ${ed1.base64}\n`, { flag: 'w' });
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  const names = ['web.example', '[web.example]:2222', 'bad.example', 'other.example', 'only-rsa.example', '[only-rsa.example]:2222', 'plain.example', '192.0.2.10', 'nobody.org', 'webxexample'];
  for (const name of names) {
    for (const which of ['plain', 'hashed'] as const) {
      test(`the lines matching ${name} (${which} file) are those ssh-keygen -F finds`, () => {
        const file = which === 'plain' ? plainFile : hashedFile;
        assert.deepEqual(readable(readKnownHosts(files, [file], name)), readable(findWithSshKeygen(file, name)));
      });
    }
  }

  test('the hashed file really is hashed', () => {
    assert.match(readFileSync(hashedFile, 'utf8'), /^\|1\|[^|]+\|[^ ]+ ssh-ed25519 /m);
    assert.doesNotMatch(readFileSync(hashedFile, 'utf8'), /^web\.example /m);
  });

  test('knownHostsName: host on port 22, [host]:port otherwise, HostKeyAlias instead of both', () => {
    assert.equal(knownHostsName({ hostname: 'Web.Example', port: 22 }), 'web.example');
    assert.equal(knownHostsName({ hostname: 'web.example', port: 2222 }), '[web.example]:2222');
    assert.equal(knownHostsName({ hostname: 'web.example', port: 2222, hostKeyAlias: 'myalias' }), 'myalias');
  });

  test('a revoked key is never trusted, even where another line trusts it', () => {
    const lookup = readKnownHosts(files, [plainFile], 'web.example');
    assert.ok(lookup.keys.some((key) => key.blob.equals(edRevoked.blob)));
    assert.deepEqual(checkHostKey(lookup, edRevoked.blob), { status: 'revoked' });
  });

  test('a known key is trusted, with where it is written', () => {
    const check = checkHostKey(readKnownHosts(files, [hashedFile], 'web.example'), ed1.blob);
    assert.equal(check.status, 'trusted');
    assert.deepEqual(check.status === 'trusted' && { file: check.entry.file, line: check.entry.line }, { file: hashedFile, line: 2 });
  });

  test('another key for a known host is a change, naming the entry ssh calls offending (the last)', () => {
    const lookup = readKnownHosts(files, [plainFile], 'other.example');
    const check = checkHostKey(lookup, ed1.blob);
    assert.equal(check.status, 'changed');
    assert.deepEqual(check.status === 'changed' && check.entry.line, lookup.keys.at(-1)!.line);
  });

  test('a host with no lines is unknown; a CA line alone does not make a host key known', () => {
    assert.deepEqual(checkHostKey(readKnownHosts(files, [plainFile], 'nobody.org'), ed1.blob), { status: 'unknown' });
    const caOnly = lookUpKnownHosts([{ file: 'f', text: `@cert-authority *.corp ${edCa.type} ${edCa.base64}\n` }], 'a.corp');
    assert.equal(caOnly.certAuthorities.length, 1);
    assert.deepEqual(checkHostKey(caOnly, edCa.blob), { status: 'unknown' });
  });

  test('a line whose key does not parse is skipped, as ssh skips it when loading (ssh-keygen -F would list it)', () => {
    const text = `web.example ssh-ed25519 not-base64!\nweb.example ssh-rsa ${ed1.base64}\nweb.example ssh-ed25519\n${line('web.example', ed1)}\n`;
    const lookup = lookUpKnownHosts([{ file: 'f', text }], 'web.example');
    assert.deepEqual(lookup.keys.map((key) => key.line), [4]);
  });

  test('a line added after a lookup is seen by the next one (the file is re-read once it changed)', () => {
    const file = path.join(dir, 'known_hosts_growing');
    writeFileSync(file, `${line('web.example', ed1)}\n`);
    assert.equal(readKnownHosts(files, [file], 'new.example').keys.length, 0);
    assert.equal(readKnownHosts(files, [file], 'web.example').keys.length, 1);
    writeFileSync(file, `${line('web.example', ed1)}\n${line('new.example', ed2)}\n`);
    assert.deepEqual(readable(readKnownHosts(files, [file], 'new.example')).keys.map((key) => key.line), [2]);
  });

  test('missing files hold nothing', () => {
    assert.deepEqual(readKnownHosts(files, [path.join(dir, 'missing')], 'web.example'), { keys: [], revoked: [], certAuthorities: [] });
  });

  test('hostKeyAlgorithmsFor: the types known for the host first, an RSA key offering rsa-sha2-512/256 and ssh-rsa', () => {
    // only-rsa.example is also covered by the `@cert-authority *.example` line: certificates come first.
    assert.deepEqual(hostKeyAlgorithmsFor(readKnownHosts(files, [plainFile], 'only-rsa.example')), [
      ...CERT_HOST_KEY_ALGORITHMS,
      'rsa-sha2-512',
      'rsa-sha2-256',
      'ssh-rsa',
      'ssh-ed25519',
      'ecdsa-sha2-nistp256',
      'ecdsa-sha2-nistp384',
      'ecdsa-sha2-nistp521',
    ]);
    assert.deepEqual(hostKeyAlgorithmsFor(readKnownHosts(files, [plainFile], '[web.example]:2222')).slice(0, 2), ['ecdsa-sha2-nistp256', CERT_HOST_KEY_ALGORITHMS[0]]);
    const withCa = hostKeyAlgorithmsFor({ keys: [], certAuthorities: [{ type: edCa.type, blob: edCa.blob, file: 'f', line: 1 }] });
    assert.deepEqual(withCa.slice(0, 7), [...CERT_HOST_KEY_ALGORITHMS, 'ssh-ed25519'], 'with a CA line for the host: certificates first, as ssh orders them');
    // Nothing known: OpenSSH's default order, certificates first (ssh2's plain algorithms after them).
    assert.deepEqual(hostKeyAlgorithmsFor({ keys: [] }), [...CERT_HOST_KEY_ALGORITHMS, 'ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa']);
    // A known plain key and no CA: that type first, the certificates still before the other plain types.
    assert.deepEqual(hostKeyAlgorithmsFor({ keys: [{ type: 'ssh-ed25519', blob: Buffer.alloc(0), file: 'f', line: 1 }] }).slice(0, 2), ['ssh-ed25519', CERT_HOST_KEY_ALGORITHMS[0]]);
    // A configured `+`/`-` HostKeyAlgorithms: its algorithms, reordered the same way.
    assert.deepEqual(hostKeyAlgorithmsFor({ keys: [{ type: 'ssh-rsa', blob: Buffer.alloc(0), file: 'f', line: 1 }] }, ['ssh-ed25519', 'rsa-sha2-256', 'ssh-rsa']), ['rsa-sha2-256', 'ssh-rsa', 'ssh-ed25519']);
  });
});
