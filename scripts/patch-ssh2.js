// Teaches ssh2 1.17.0 (the client side) to accept OpenSSH host certificates: `npm ci` runs this as
// the `postinstall` script, and it may be run again by hand (it does nothing to a patched copy).
//
// ssh2 cannot negotiate `*-cert-v01@openssh.com` host key algorithms: it does not list them, checks
// the KEX signature's type against the certificate's algorithm name, and parses the host key for that
// check by the certificate's name. Three small changes to node_modules/ssh2/lib/protocol/:
// - constants.js: the certificate algorithms are *supported* (never in ssh2's defaults: the transport
//   offers them only to a host that known_hosts has a `@cert-authority` line for);
// - kex.js (client): the signature is that of the certificate's key — its type is the algorithm without
//   `-cert-v01@openssh.com`, and it is checked with the public key inside the certificate;
// - kex.js (client): an RSA certificate (`ssh-rsa-cert-v01@openssh.com`) answers rsa-sha2-256/512-cert.
// And one change to lib/client.js, for user authentication with an RSA key: ssh2 tries rsa-sha2-256
// alone when the server lists it (server-sig-algs), so a server that accepts only rsa-sha2-512 (sshd's
// PubkeyAcceptedAlgorithms) refuses the key, while ssh offers rsa-sha2-512 first and then rsa-sha2-256.
// The certificate itself (its CA, signature, principals, validity) is checked by the transport's host
// verifier (src/transport/ssh/host-certificate.ts), which receives the whole certificate blob.
// Any other ssh2 version, or a text that is not exactly as expected, fails the install with one line.
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

const MARKER = '/* deploy_server: host certificates */';
const require = createRequire(import.meta.url);
let root;
try {
  root = path.dirname(require.resolve('ssh2/package.json'));
} catch {
  process.exit(0); // not installed (yet): nothing to patch
}
const version = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')).version;
if (version !== '1.17.0') {
  console.error(`scripts/patch-ssh2.js: ssh2 ${version} is installed, the host certificate patch is for 1.17.0: update the patch`);
  process.exit(1);
}

/** Replaces `from` (which must occur exactly `count` times in `text`, or the first of them when `first`) by `to`. */
function replace(file, text, from, to, { first = false } = {}) {
  const count = text.split(from).length - 1;
  if (count === 0 || (count > 1 && !first)) {
    console.error(`scripts/patch-ssh2.js: ${file} does not read as expected (found ${count} of a patched passage): reinstall ssh2 1.17.0`);
    process.exit(1);
  }
  return text.replace(from, () => to);
}

function patchFile(name, patch) {
  const file = path.join(root, 'lib', name);
  const text = readFileSync(file, 'utf8');
  if (text.includes(MARKER)) return;
  writeFileSync(file, patch(file, text));
}

patchFile('protocol/constants.js', (file, text) =>
  replace(file, text, `const SUPPORTED_SERVER_HOST_KEY = DEFAULT_SERVER_HOST_KEY.concat([
  'ssh-dss',
]);`, `const SUPPORTED_SERVER_HOST_KEY = DEFAULT_SERVER_HOST_KEY.concat([
  'ssh-dss',
]);
${MARKER}
// Each default but SHA-1 ssh-rsa as a certificate: ssh-ed25519 (where supported), ecdsa-sha2-*, rsa-sha2-512/256.
SUPPORTED_SERVER_HOST_KEY.push(...DEFAULT_SERVER_HOST_KEY
  .filter((name) => name !== 'ssh-rsa')
  .map((name) => \`\${name}-cert-v01@openssh.com\`));`));

patchFile('protocol/kex.js', (file, text) => {
  let out = replace(file, text, `const { parseDERKey } = require('./keyParser.js');`, `const { parseDERKey } = require('./keyParser.js');
${MARKER}
const CERT_SUFFIX = '-cert-v01@openssh.com';
// A certificate algorithm's signature type: rsa-sha2-512-cert-v01@openssh.com signs as rsa-sha2-512.
const certBase = (name) => (name.endsWith(CERT_SUFFIX) ? name.slice(0, -CERT_SUFFIX.length) : name);`);
  out = replace(file, out, `        if (sigType !== negotiated.serverHostKey) {`, `        if (sigType !== certBase(negotiated.serverHostKey)) {`);
  // The key inside a certificate: its fields follow the nonce, laid out as the plain key's.
  out = replace(file, out, `          const name = bufferParser.readString(true);
          const hostKey = this._hostKey.slice(bufferParser.pos());`, `          let name = bufferParser.readString(true);
          if (name && name.endsWith(CERT_SUFFIX)) {
            bufferParser.readString(); // nonce
            name = certBase(name);
          }
          const hostKey = this._hostKey.slice(bufferParser.pos());`);
  // The client's hash algorithm (the first of the two switches; the server's follows "// Server").
  out = replace(file, out, `        let hashAlgo;
        // Check if we need to override the default hash algorithm
        switch (this.negotiated.serverHostKey) {`, `        let hashAlgo;
        // Check if we need to override the default hash algorithm
        switch (certBase(this.negotiated.serverHostKey)) {`, { first: true });
  out = replace(file, out, `            if (hostPubKeyType !== this.negotiated.serverHostKey) {`, `            if (hostPubKeyType !== this.negotiated.serverHostKey
                && !(hostPubKeyType === 'ssh-rsa' + CERT_SUFFIX
                     && /^rsa-sha2-(256|512)-cert-v01@openssh\\.com$/.test(this.negotiated.serverHostKey))) {`);
  return out;
});

patchFile('client.js', (file, text) =>
  replace(file, text, `        if (serverSigAlgs.indexOf('rsa-sha2-256') !== -1)
          return [['rsa-sha2-256', 'sha256']];
        if (serverSigAlgs.indexOf('rsa-sha2-512') !== -1)
          return [['rsa-sha2-512', 'sha512']];`, `        ${MARKER}
        // OpenSSH's order, each tried in turn (a USERAUTH_FAILURE moves to the next).
        const sha2 = [['rsa-sha2-512', 'sha512'], ['rsa-sha2-256', 'sha256']]
          .filter(([name]) => serverSigAlgs.indexOf(name) !== -1);
        if (sha2.length > 0)
          return sha2;`));
