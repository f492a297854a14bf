// Public key authentication in one round trip per key instead of two. ssh2 (as OpenSSH) first asks
// whether the server would accept a key (USERAUTH_REQUEST without a signature, answered PK_OK), then
// sends the signed request. RFC 4252 §7 lets the client "send the signature directly without first
// verifying whether the key is acceptable": for a key file, signing costs no more than a hash here,
// while the question costs a round trip on every connection (50 ms over a 50 ms link). Agent keys
// are still asked about first: an agent may make its user confirm (ssh-add -c) or touch a token.
import type { Client, ParsedKey } from 'ssh2';

type SignCallback = (packet: Buffer, done: (signature: Buffer) => void) => void;

interface ProtocolWithAuthPK {
  authPK(username: string, key: ParsedKey, keyAlgo?: string | SignCallback, sign?: SignCallback): void;
}

/** The hash ssh2 signs with for a public key algorithm (its getKeyAlgos): only RSA names one. */
function hashOfKeyAlgorithm(keyAlgo: string | undefined): string | undefined {
  return { 'rsa-sha2-256': 'sha256', 'rsa-sha2-512': 'sha512', 'ssh-rsa': 'sha1' }[keyAlgo ?? ''];
}

/**
 * Makes `client`'s publickey requests carry their signature at once when the private key is at hand
 * (a key file; an agent's key has only its public half here and is asked about first, as before).
 * Call once ssh2 has its protocol object (from the authHandler: authentication has begun). It relies
 * on ssh2's Protocol.authPK (ssh2 is pinned): without it, nothing changes but the extra round trip.
 */
export function signKeyFilesAtOnce(client: Client): void {
  const protocol = (client as unknown as { _protocol?: ProtocolWithAuthPK })._protocol;
  if (typeof protocol?.authPK !== 'function' || protocol.authPK.length !== 4) return;
  const authPK = protocol.authPK;
  protocol.authPK = function (username, key, keyAlgo, sign) {
    if (typeof keyAlgo === 'function' || sign !== undefined || !key.isPrivateKey()) return authPK.call(this, username, key, keyAlgo, sign);
    authPK.call(this, username, key, keyAlgo, (packet, done) => {
      const signature = key.sign(packet, hashOfKeyAlgorithm(keyAlgo));
      // A key that cannot sign so: ask first, as ssh2 does, and its PK_OK handler reports the error.
      if (signature instanceof Error) authPK.call(this, username, key, keyAlgo);
      else done(signature);
    });
  };
}
