// Public key authentication in OpenSSH's order (sshconnect2.c): the agent's keys first, then each
// IdentityFile in turn; a passphrase-protected file is skipped with a note (nothing here can type a
// passphrase, as with BatchMode), and IdentitiesOnly limits the agent to the configured keys.
import ssh2 from 'ssh2';
import type { AnyAuthMethod, AuthHandlerMiddleware, ParsedKey } from 'ssh2';
import { FileCache } from '../file-cache.ts';

const { BaseAgent, OpenSSHAgent, utils } = ssh2;

/** What authenticated a connection: rsync's ssh must use the same. */
export type Credential = { kind: 'agent'; socket: string } | { kind: 'file'; file: string };

/** The keys one connection will offer, in order, and why any configured key is left out. */
export interface KeyPlan {
  agent: { socket: string; keys: ParsedKey[] } | undefined;
  files: { file: string; key: ParsedKey }[];
  /** One line per key left out (passphrase, unreadable) or agent not usable: shown in sshCheck's output. */
  notes: string[];
}

export interface KeySources {
  identityFiles: string[];
  identitiesOnly: boolean;
  agentSocket: string | undefined;
}

/**
 * Key files as parsed (or why they could not be): every connection offers the same keys, and parsing
 * one costs more than the stat that tells it has not changed (one per process, see ssh-files.ts).
 */
export type KeyFiles = FileCache<ParsedKey | Error>;

export function createKeyFiles(): KeyFiles {
  return new FileCache((content) => utils.parseKey(content));
}

/** The public blob of a key file: its `.pub` beside it, else the private key itself if it is readable. */
function publicBlobOf(keyFiles: KeyFiles, file: string): Buffer | undefined {
  for (const candidate of [`${file}.pub`, file]) {
    try {
      const parsed = keyFiles.get(candidate);
      if (parsed !== undefined && !(parsed instanceof Error)) return parsed.getPublicSSH();
    } catch {
      // unreadable: try the next
    }
  }
  return undefined;
}

/** Reads one identity file; undefined and a note when it cannot be used without a passphrase or at all. */
function readIdentity(keyFiles: KeyFiles, file: string, notes: string[]): ParsedKey | undefined {
  let parsed: ParsedKey | Error | undefined;
  try {
    parsed = keyFiles.get(file);
  } catch (error) {
    notes.push(`skipped key ${file}: cannot read it (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
  if (parsed === undefined) {
    notes.push(`skipped key ${file}: cannot read it (ENOENT)`);
    return undefined;
  }
  if (parsed instanceof Error) {
    notes.push(
      /encrypted/i.test(parsed.message)
        ? `skipped key ${file}: it is passphrase-protected (load it into ssh-agent with ssh-add to use it)`
        : `skipped key ${file}: not a private key this client can use`,
    );
    return undefined;
  }
  return parsed;
}

function agentKeys(socket: string, timeoutMs: number): Promise<ParsedKey[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    new OpenSSHAgent(socket).getIdentities((error, keys) => {
      clearTimeout(timer);
      if (error) reject(error);
      else resolve((keys ?? []) as ParsedKey[]); // OpenSSHAgent parses every key it lists
    });
  });
}

/**
 * Works out which keys to offer: asks the agent for its keys first (so an agent that is gone or
 * empty is a note, not a failed connection), then reads each identity file.
 */
export async function planKeys(sources: KeySources, timeoutMs: number, keyFiles: KeyFiles): Promise<KeyPlan> {
  const notes: string[] = [];
  let agent: KeyPlan['agent'];
  // Each identity's public half, read at most once (its .pub file, or the key when unencrypted).
  const publicBlobs = new Map<string, Buffer | undefined>();
  const publicBlob = (file: string) => {
    if (!publicBlobs.has(file)) publicBlobs.set(file, publicBlobOf(keyFiles, file));
    return publicBlobs.get(file);
  };
  if (sources.agentSocket !== undefined) {
    try {
      let keys = await agentKeys(sources.agentSocket, timeoutMs);
      if (sources.identitiesOnly) {
        const allowed = sources.identityFiles.map(publicBlob).filter((blob): blob is Buffer => blob !== undefined);
        keys = keys.filter((key) => allowed.some((blob) => blob.equals(key.getPublicSSH())));
      }
      if (keys.length > 0) agent = { socket: sources.agentSocket, keys };
    } catch (error) {
      notes.push(`ssh-agent at ${sources.agentSocket} not used: ${(error as Error).message}`);
    }
  }
  const files = sources.identityFiles.flatMap((file) => {
    const fileNotes: string[] = [];
    const key = readIdentity(keyFiles, file, fileNotes);
    // A passphrase-protected key the agent holds (ssh-add) is offered by the agent: nothing to say.
    const blob = key === undefined && agent !== undefined ? publicBlob(file) : undefined;
    const inAgent = blob !== undefined && agent!.keys.some((held) => held.getPublicSSH().equals(blob));
    if (!inAgent) notes.push(...fileNotes);
    return key === undefined ? [] : [{ file, key }];
  });
  return { agent, files, notes };
}

/** An agent that offers only the keys planned (IdentitiesOnly), signing through the real one. */
class PlannedAgent extends BaseAgent<ParsedKey> {
  private readonly inner: InstanceType<typeof OpenSSHAgent>;

  constructor(socket: string, private readonly keys: ParsedKey[]) {
    super();
    this.inner = new OpenSSHAgent(socket);
  }

  getIdentities(callback: (error: Error | undefined, keys?: ParsedKey[]) => void): void {
    callback(undefined, this.keys);
  }

  sign(key: ParsedKey, data: Buffer, options: any, callback?: any): void {
    this.inner.sign(key, data, options, callback);
  }
}

/** ssh2's `authHandler` for a plan, and which credential was handed out last (the one that worked, on `ready`). */
export function authHandlerFor(plan: KeyPlan, username: string): { handler: AuthHandlerMiddleware; lastTried: () => Credential | undefined } {
  const attempts: { method: AnyAuthMethod; credential: Credential }[] = [];
  if (plan.agent) attempts.push({ method: { type: 'agent', username, agent: new PlannedAgent(plan.agent.socket, plan.agent.keys) }, credential: { kind: 'agent', socket: plan.agent.socket } });
  for (const { file, key } of plan.files) attempts.push({ method: { type: 'publickey', username, key }, credential: { kind: 'file', file } });
  let last: Credential | undefined;
  const handler: AuthHandlerMiddleware = (_methodsLeft, _partial, next) => {
    const attempt = attempts.shift();
    if (attempt === undefined) return next(false as never);
    last = attempt.credential;
    next(attempt.method);
  };
  return { handler, lastTried: () => last };
}

/** What was offered, for the error when none was accepted. */
export function describePlan(plan: KeyPlan): string {
  const offered = [
    ...(plan.agent ? [`${plan.agent.keys.length} key(s) of ssh-agent ${plan.agent.socket}`] : []),
    ...plan.files.map((entry) => entry.file),
  ];
  return offered.length ? `offered ${offered.join(', ')}` : 'no key to offer (IdentityFile in ~/.ssh/config, ~/.ssh/id_ed25519, or ssh-agent)';
}
