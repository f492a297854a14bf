/** The host could not be reached, or refused us: the message says which and what to do. */
export class SshConnectError extends Error {
  override name = 'SshConnectError';
}

/** The host's key is not one known_hosts trusts for it. */
export class HostKeyError extends SshConnectError {
  override name = 'HostKeyError';
}
