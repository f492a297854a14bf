import { readdirSync } from 'node:fs';
import { FileCache } from '../file-cache.ts';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { globPaths, type ReadDirectory } from './path-glob.ts';
import { connectionHash, expandTilde, expandTokens, type ConnectionTokens } from './ssh-config-expand.ts';
import { KNOWN_SSH_CONFIG_KEYWORDS } from './ssh-config-keywords.ts';
import {
  assembleAlgorithms,
  checkAlgorithmNames,
  OPENSSH_DEFAULT_CA_SIGNATURE_ALGORITHMS,
  OPENSSH_DEFAULT_HOST_KEY_ALGORITHMS,
  OPENSSH_HOST_KEY_ALGORITHMS,
  OPENSSH_SIGNATURE_ALGORITHMS,
} from './algorithm-lists.ts';
import { matchHostname, matchPattern, matchPatternList } from './ssh-patterns.ts';
import { parseConfigLine, parseTimeSpec, SshConfigError, type ConfigLine } from './ssh-config-syntax.ts';

export { SshConfigError } from './ssh-config-syntax.ts';

/** Where the config comes from and the local facts ssh would take from the system. */
export interface SshConfigSources {
  /** The invoking user's home: `~`, `%d` and relative Include paths (`~/.ssh/<path>`). */
  home: string;
  /** The invoking user's name: the default User, `Match localuser`, `%u`. */
  localUser: string;
  /** Like `ssh -F`: must exist. Default `<home>/.ssh/config`, skipped when missing. */
  configFile?: string;
  /**
   * Read after the user config, as ssh does without `-F`. Default `/etc/ssh/ssh_config` when
   * `configFile` is not given, none when it is (`ssh -F` skips it too); null for none.
   */
  systemConfigFile?: string | null;
  /**
   * The config files, parsed, each re-read once it changed: one per process that resolves many
   * connections (see ssh-files.ts). Default: a new one, so every file is read afresh.
   */
  files?: ConfigFiles;
  /** A directory's entry names (for Include globs), or undefined. Default: the real file system. */
  readDirectory?: ReadDirectory;
  /** For `${VAR}` in IdentityFile, UserKnownHostsFile and IdentityAgent. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** `%l`, `%L`, `%C`. Default `os.hostname()`. */
  localHostname?: string;
  /** `%i`. Default the process's uid. */
  uid?: number;
  /**
   * Debian's ssh defaults ServerAliveInterval to 300 when BatchMode is on (a Debian patch, see
   * README.Debian). Default false: upstream OpenSSH's default of 0.
   */
  debianDefaults?: boolean;
}

/** StrictHostKeyChecking, with its synonyms folded (`true` → yes, `false`/`off` → no). */
export type StrictHostKeyChecking = 'yes' | 'no' | 'ask' | 'accept-new';

/** What `ssh -G <alias>` would print for the settings a connection needs, tokens and `~` expanded. */
export interface ResolvedSshConfig {
  alias: string;
  /** HostName with `%h` expanded, lowercased unless an IP address; the alias (lowercased) by default. */
  hostname: string;
  port: number;
  user: string;
  /**
   * Every IdentityFile in order (duplicates dropped, `none` dropped), or ssh's default list when
   * none is configured; `~`, `%` tokens and `${VAR}` expanded. Whether each file exists is the caller's business.
   */
  identityFiles: string[];
  identitiesOnly: boolean;
  /**
   * IdentityAgent as configured, expanded: undefined (not configured: use `$SSH_AUTH_SOCK`),
   * `none` (use no agent), `SSH_AUTH_SOCK` (use `$SSH_AUTH_SOCK`), `$NAME` (use that variable) or a
   * socket path. {@link agentSocketFor} applies these rules.
   */
  identityAgent: string | undefined;
  /** UserKnownHostsFile values (expanded), default `~/.ssh/known_hosts ~/.ssh/known_hosts2`; `none` → []. */
  userKnownHostsFiles: string[];
  /** GlobalKnownHostsFile values (`~` expanded), default `/etc/ssh/ssh_known_hosts{,2}`; `none` → []. */
  globalKnownHostsFiles: string[];
  /** Lowercased, as ssh uses it to look up known_hosts. */
  hostKeyAlias: string | undefined;
  /** Seconds; undefined for none. */
  connectTimeout: number | undefined;
  /** Seconds; 0 = off. */
  serverAliveInterval: number;
  serverAliveCountMax: number;
  /** The ProxyJump value as written (`[user@]host[:port]` hops, comma separated); `none` → undefined. */
  proxyJump: string | undefined;
  /** The ProxyCommand as written (tokens unexpanded: ssh expands them when connecting); ProxyJump wins over it. */
  proxyCommand: string | undefined;
  strictHostKeyChecking: StrictHostKeyChecking;
  batchMode: boolean;
  /** HostKeyAlgorithms assembled (algorithm-lists.ts), OpenSSH's default when not configured. */
  hostKeyAlgorithms: string[];
  /** HostKeyAlgorithms as written; undefined when not configured. */
  hostKeyAlgorithmsSetting: string | undefined;
  /** CASignatureAlgorithms assembled: what a CA may sign host certificates with. */
  caSignatureAlgorithms: string[];
  /** CASignatureAlgorithms as written; undefined when not configured. */
  caSignatureAlgorithmsSetting: string | undefined;
  /** RevokedHostKeys as written (`ssh -G` prints it unexpanded: a key revocation list or keys file); undefined when not set. */
  revokedHostKeys: string | undefined;
}

/** The values a config pass has obtained so far: the first obtained value of each wins. */
interface ObtainedValues {
  hostname?: string;
  port?: number;
  user?: string;
  /** IdentityFile accumulates; a duplicate of the same origin (user or system config) is dropped. */
  identityFiles: { file: string; fromUserConfig: boolean }[];
  identitiesOnly?: boolean;
  identityAgent?: string;
  userKnownHostsFiles?: string[];
  globalKnownHostsFiles?: string[];
  hostKeyAlias?: string;
  connectTimeout?: number;
  serverAliveInterval?: number;
  serverAliveCountMax?: number;
  /** `none` counts as obtained: it blocks a later ProxyJump and ProxyCommand. */
  jumpHost?: string;
  proxyCommand?: string;
  strictHostKeyChecking?: StrictHostKeyChecking;
  batchMode?: boolean;
  canonicalizeHostname?: string;
  ignoreUnknown?: string;
  hostKeyAlgorithms?: string;
  caSignatureAlgorithms?: string;
  revokedHostKeys?: string;
}

/** Every option given a value. */
type Defined<T> = { [K in keyof T]-?: Exclude<T[K], undefined> };
type Sources = Omit<Defined<SshConfigSources>, 'configFile' | 'systemConfigFile'> & { configFile?: string; systemConfigFile: string | null };

/** One reading of all config files (ssh reads them twice when `Match final`/canonical asks for it). */
interface ConfigPass {
  sources: Sources;
  values: ObtainedValues;
  /** What `Host` patterns match: the alias, or in the final pass the resolved host name. */
  host: string;
  /** The alias as typed: `Match originalhost`. */
  originalHost: string;
  finalPass: boolean;
  /** Set by any `Match ... final` evaluated. */
  wantsFinalPass: boolean;
}

/** How the file being read was reached. */
interface FileScope {
  file: string;
  fromUserConfig: boolean;
  /** Included from an inactive block: parsed for errors, never applied. */
  neverMatch: boolean;
  depth: number;
}

/** readconf.c's `*activep`: whether lines apply, switched by Host and Match. */
interface Activity {
  active: boolean;
}

const DEFAULT_IDENTITY_FILES = ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk', 'id_xmss', 'id_dsa'].map((name) => `~/.ssh/${name}`);
const DEFAULT_USER_KNOWN_HOSTS = ['~/.ssh/known_hosts', '~/.ssh/known_hosts2'];
const DEFAULT_GLOBAL_KNOWN_HOSTS = ['/etc/ssh/ssh_known_hosts', '/etc/ssh/ssh_known_hosts2'];
const MAX_INCLUDE_DEPTH = 16;


function readDirectoryOrUndefined(directory: string): string[] | undefined {
  try {
    return readdirSync(directory);
  } catch {
    return undefined;
  }
}

function withDefaults(options: SshConfigSources): Sources {
  return {
    home: options.home,
    localUser: options.localUser,
    configFile: options.configFile,
    systemConfigFile: options.systemConfigFile !== undefined ? options.systemConfigFile : options.configFile === undefined ? '/etc/ssh/ssh_config' : null,
    files: options.files ?? createConfigFiles(),
    readDirectory: options.readDirectory ?? readDirectoryOrUndefined,
    env: options.env ?? process.env,
    localHostname: options.localHostname ?? os.hostname(),
    uid: options.uid ?? os.userInfo().uid,
    debianDefaults: options.debianDefaults ?? false,
  };
}

function onlyArgument(line: ConfigLine, where: string): string {
  if (line.args.length !== 1 || line.args[0] === '') throw new SshConfigError(`${where}: keyword ${line.keyword} takes exactly one argument`);
  return line.args[0];
}

function parseFlag(line: ConfigLine, where: string): boolean {
  const value = onlyArgument(line, where).toLowerCase();
  if (value === 'yes' || value === 'true') return true;
  if (value === 'no' || value === 'false') return false;
  throw new SshConfigError(`${where}: unsupported option "${value}"`);
}

function parseStrictHostKeyChecking(line: ConfigLine, where: string): StrictHostKeyChecking {
  const value = onlyArgument(line, where).toLowerCase();
  const folded = ({ true: 'yes', yes: 'yes', false: 'no', no: 'no', off: 'no', ask: 'ask', 'accept-new': 'accept-new' } as const)[value as 'yes'];
  if (folded === undefined) throw new SshConfigError(`${where}: unsupported option "${value}"`);
  return folded;
}

/** A time value; `none` yields undefined, which leaves the option unset (a later value may still set it). */
function parseTime(line: ConfigLine, where: string): number | undefined {
  const value = onlyArgument(line, where);
  if (value === 'none') return undefined;
  const seconds = parseTimeSpec(value);
  if (seconds === undefined) throw new SshConfigError(`${where}: invalid time value "${value}"`);
  return seconds;
}

function parseInteger(line: ConfigLine, where: string, min: number, max: number): number {
  const value = onlyArgument(line, where);
  const number = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(number >= min && number <= max)) throw new SshConfigError(`${where}: bad number "${value}" for ${line.keyword}`);
  return number;
}

/** GlobalKnownHostsFile/UserKnownHostsFile: all values of a line; `none` only alone. */
function parseFileList(line: ConfigLine, where: string): string[] {
  if (line.args.some((arg) => arg === '')) throw new SshConfigError(`${where}: keyword ${line.keyword} empty argument`);
  if (line.args.length > 1 && line.args.some((arg) => arg.toLowerCase() === 'none')) {
    throw new SshConfigError(`${where}: keyword ${line.keyword} "none" argument must appear alone`);
  }
  return line.args;
}

/** Sets an option unless a value was obtained before: ssh's "first obtained value wins". */
function setFirst<K extends keyof ObtainedValues>(values: ObtainedValues, key: K, value: ObtainedValues[K]): void {
  if (values[key] === undefined) values[key] = value;
}

/** readconf.c `Host`: active when a pattern matches and no `!pattern` does. Case-sensitive. */
function hostLineMatches(host: string, patterns: string[]): boolean {
  let matched = false;
  for (const arg of patterns) {
    const negated = arg.startsWith('!');
    if (!matchPattern(host, negated ? arg.slice(1) : arg)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** The host name `Match host` tests: in the first pass, HostName so far with `%h` expanded. */
function hostForMatch(pass: ConfigPass): string {
  const { hostname } = pass.values;
  if (pass.finalPass || hostname === undefined) return hostname ?? pass.host;
  return expandTokens(hostname, { h: pass.host });
}

/**
 * readconf.c `match_cfg_line`: all criteria must hold. `exec` is treated as never matching:
 * resolving a config must not run commands. `canonical`/`final` hold only in the final pass.
 */
function matchLineMatches(pass: ConfigPass, args: string[], where: string): boolean {
  const host = hostForMatch(pass);
  const remoteUser = pass.values.user ?? pass.sources.localUser;
  let result = true;
  let attributes = 0;
  for (let i = 0; i < args.length; i++) {
    const negate = args[i].startsWith('!');
    const attribute = (negate ? args[i].slice(1) : args[i]).toLowerCase();
    if (attribute === 'all') {
      if (attributes > 1 || i + 1 < args.length) throw new SshConfigError(`${where}: '${args[i]}' cannot be combined with other Match attributes`);
      return result && !negate;
    }
    attributes++;
    if (attribute === 'canonical' || attribute === 'final') {
      if (attribute === 'final') pass.wantsFinalPass = true;
      if (pass.finalPass === negate) result = false;
      continue;
    }
    const criteria = args[++i];
    if (criteria === undefined || criteria === '') throw new SshConfigError(`${where}: missing Match criteria for ${attribute}`);
    let matched: boolean;
    if (attribute === 'host') matched = matchHostname(host, criteria) === 'matched';
    else if (attribute === 'originalhost') matched = matchHostname(pass.originalHost, criteria) === 'matched';
    else if (attribute === 'user') matched = matchPatternList(remoteUser, criteria, false) === 'matched';
    else if (attribute === 'localuser') matched = matchPatternList(pass.sources.localUser, criteria, false) === 'matched';
    else if (attribute === 'exec') matched = false; // never run: as if the command failed, so `!exec` holds
    else throw new SshConfigError(`${where}: unsupported Match attribute ${attribute}`);
    if (matched === negate) result = false;
  }
  if (attributes === 0) throw new SshConfigError(`${where}: one or more attributes required for Match`);
  return result;
}

/** readconf.c `Include`: relative paths live in ~/.ssh (user config) or /etc/ssh (system config). */
function includePattern(arg: string, scope: FileScope, sources: Sources, where: string): string {
  if (arg.startsWith('~') && !scope.fromUserConfig) throw new SshConfigError(`${where}: bad include path ${arg}`);
  if (arg.startsWith('~')) return expandTilde(arg, sources.home);
  if (path.isAbsolute(arg)) return arg;
  return scope.fromUserConfig ? path.join(sources.home, '.ssh', arg) : path.join('/etc/ssh', arg);
}

function applyInclude(pass: ConfigPass, line: ConfigLine, scope: FileScope, activity: Activity, where: string): void {
  for (const arg of line.args) {
    if (arg === '') throw new SshConfigError(`${where}: keyword include empty argument`);
    const wasActive = activity.active;
    for (const file of globPaths(includePattern(arg, scope, pass.sources, where), pass.sources.readDirectory)) {
      const lines = pass.sources.files.get(file);
      const included = { file, fromUserConfig: scope.fromUserConfig, neverMatch: scope.neverMatch || !wasActive, depth: scope.depth + 1 };
      if (lines !== undefined) readConfigLines(pass, lines, included, activity);
      // A Host or Match inside the included file does not change the including file's state.
      activity.active = wasActive;
    }
  }
}

/** ProxyJump: the raw rest of the line (comment cut), applied only if neither ProxyJump nor ProxyCommand was. */
function applyProxyJump(values: ObtainedValues, line: ConfigLine, active: boolean): void {
  const value = line.rest.replace(/^[\s=]+/, '').replace(/#.*$/, '').trimEnd();
  if (!active || values.proxyCommand !== undefined || values.jumpHost !== undefined) return;
  values.jumpHost = value;
  if (value.toLowerCase() !== 'none') values.proxyCommand = 'none';
}

/** Options that only take effect on an active line: first obtained value wins. */
function applyOption(pass: ConfigPass, line: ConfigLine, scope: FileScope, where: string): void {
  const { values } = pass;
  switch (line.keyword) {
    case 'hostname':
      return setFirst(values, 'hostname', onlyArgument(line, where));
    case 'user':
      return setFirst(values, 'user', onlyArgument(line, where));
    case 'port':
      return setFirst(values, 'port', parseInteger(line, where, 1, 65535));
    case 'identityfile':
    case 'identityfile2': {
      const file = onlyArgument(line, where);
      const duplicate = values.identityFiles.some((known) => known.file === file && known.fromUserConfig === scope.fromUserConfig);
      if (!duplicate) values.identityFiles.push({ file, fromUserConfig: scope.fromUserConfig });
      return;
    }
    case 'identitiesonly':
      return setFirst(values, 'identitiesOnly', parseFlag(line, where));
    case 'identityagent':
      return setFirst(values, 'identityAgent', onlyArgument(line, where));
    case 'userknownhostsfile':
      return setFirst(values, 'userKnownHostsFiles', parseFileList(line, where));
    case 'globalknownhostsfile':
      return setFirst(values, 'globalKnownHostsFiles', parseFileList(line, where));
    case 'hostkeyalias':
      return setFirst(values, 'hostKeyAlias', onlyArgument(line, where));
    case 'connecttimeout':
      return setFirst(values, 'connectTimeout', parseTime(line, where));
    case 'serveraliveinterval':
      return setFirst(values, 'serverAliveInterval', parseTime(line, where));
    case 'serveralivecountmax':
      return setFirst(values, 'serverAliveCountMax', parseInteger(line, where, 0, 2 ** 31 - 1));
    case 'proxycommand':
      // A ProxyJump already obtained has set ProxyCommand to `none`, so this one is ignored; after
      // `ProxyJump none` a ProxyCommand still applies (what `ssh -G` of OpenSSH 9.2 prints).
      return setFirst(values, 'proxyCommand', line.rest.replace(/^[\s=]+/, ''));
    case 'stricthostkeychecking':
      return setFirst(values, 'strictHostKeyChecking', parseStrictHostKeyChecking(line, where));
    case 'batchmode':
      return setFirst(values, 'batchMode', parseFlag(line, where));
    case 'canonicalizehostname':
      return setFirst(values, 'canonicalizeHostname', onlyArgument(line, where).toLowerCase());
    case 'ignoreunknown':
      return setFirst(values, 'ignoreUnknown', onlyArgument(line, where));
    case 'hostkeyalgorithms':
    case 'casignaturealgorithms': {
      const value = onlyArgument(line, where);
      checkAlgorithmNames(value, where);
      return setFirst(values, line.keyword === 'hostkeyalgorithms' ? 'hostKeyAlgorithms' : 'caSignatureAlgorithms', value);
    }
    case 'revokedhostkeys':
      return setFirst(values, 'revokedHostKeys', onlyArgument(line, where));
  }
}

function isKnownKeyword(keyword: string, values: ObtainedValues): boolean {
  if (KNOWN_SSH_CONFIG_KEYWORDS.has(keyword)) return true;
  return values.ignoreUnknown !== undefined && matchPatternList(keyword, values.ignoreUnknown, true) === 'matched';
}

function applyLine(pass: ConfigPass, line: ConfigLine, scope: FileScope, activity: Activity, where: string): void {
  if (!isKnownKeyword(line.keyword, pass.values)) throw new SshConfigError(`${where}: Bad configuration option: ${line.keyword}`);
  if (line.keyword === 'host') {
    if (line.args.some((arg) => arg === '')) throw new SshConfigError(`${where}: keyword host empty argument`);
    activity.active = !scope.neverMatch && hostLineMatches(pass.host, line.args);
  } else if (line.keyword === 'match') {
    const matches = matchLineMatches(pass, line.args, where);
    activity.active = !scope.neverMatch && matches;
  } else if (line.keyword === 'include') {
    applyInclude(pass, line, scope, activity, where);
  } else if (line.keyword === 'proxyjump') {
    applyProxyJump(pass.values, line, activity.active);
  } else if (activity.active) {
    applyOption(pass, line, scope, where);
  }
}

/** One line of a config file that is not blank or a comment: what it says, or why it cannot be read. */
type ParsedLine = { where: string; line: Readonly<ConfigLine>; error?: undefined } | { where: string; line?: undefined; error: SshConfigError };

/** A config file's lines, parsed: what every connection reads is parsed once, while the file is unchanged. */
export type ConfigFiles = FileCache<ParsedLine[]>;

export function createConfigFiles(): ConfigFiles {
  return new FileCache(parseConfigFile);
}

function parseConfigFile(content: Buffer, file: string): ParsedLine[] {
  return content.toString('utf8').split('\n').flatMap((rawLine, index): ParsedLine[] => {
    const where = `${file} line ${index + 1}`;
    try {
      const line = parseConfigLine(rawLine, where);
      return line === undefined ? [] : [{ where, line: Object.freeze({ ...line, args: Object.freeze(line.args) as string[] }) }];
    } catch (error) {
      if (error instanceof SshConfigError) return [{ where, error }];
      throw error;
    }
  });
}

function readConfigLines(pass: ConfigPass, lines: ParsedLine[], scope: FileScope, activity: Activity): void {
  if (scope.depth > MAX_INCLUDE_DEPTH) throw new SshConfigError(`${scope.file}: too many recursive configuration includes`);
  // An unreadable line fails where ssh would fail: after the lines before it were applied.
  for (const { where, line, error } of lines) {
    if (line === undefined) throw error;
    applyLine(pass, line, scope, activity, where);
  }
}

/** Reads the user config then the system config once, as ssh.c `process_config_files` does. */
function readConfigFiles(pass: ConfigPass): void {
  const { sources } = pass;
  const userFile = sources.configFile ?? path.join(sources.home, '.ssh', 'config');
  const userLines = sources.files.get(userFile);
  if (userLines === undefined && sources.configFile !== undefined) throw new SshConfigError(`Can't open user config file ${userFile}`);
  if (userLines !== undefined) readConfigLines(pass, userLines, { file: userFile, fromUserConfig: true, neverMatch: false, depth: 0 }, { active: true });
  if (sources.systemConfigFile === null) return;
  const systemLines = sources.files.get(sources.systemConfigFile);
  if (systemLines !== undefined) {
    readConfigLines(pass, systemLines, { file: sources.systemConfigFile, fromUserConfig: false, neverMatch: false, depth: 0 }, { active: true });
  }
}

/** ssh.c: HostName with `%h` expanded (or the alias), lowercased unless it is an IP address. */
function remoteHostName(hostname: string | undefined, alias: string): string {
  const host = hostname === undefined ? alias : expandTokens(hostname, { h: alias });
  return isIP(host) ? host : host.toLowerCase();
}

function connectionTokens(alias: string, host: string, port: number, user: string, hostKeyAlias: string | undefined, sources: Sources): ConnectionTokens {
  return {
    C: connectionHash(sources.localHostname, host, port, user),
    L: sources.localHostname.split('.')[0],
    i: String(sources.uid),
    k: hostKeyAlias ?? alias,
    l: sources.localHostname,
    n: alias,
    p: String(port),
    d: sources.home,
    h: host,
    r: user,
    u: sources.localUser,
  };
}

function withoutNone(files: string[]): string[] {
  return files.length === 1 && files[0].toLowerCase() === 'none' ? [] : files;
}

function finishConfig(alias: string, host: string, values: ObtainedValues, sources: Sources): ResolvedSshConfig {
  const port = values.port ?? 22;
  const user = values.user ?? sources.localUser;
  const hostKeyAlias = values.hostKeyAlias?.toLowerCase();
  const tokens = connectionTokens(alias, host, port, user, hostKeyAlias, sources);
  const expandPath = (file: string) => expandTokens(expandTilde(file, sources.home), { ...tokens }, sources.env);
  const configuredKeys = values.identityFiles.map((entry) => entry.file);
  const jumpHost = values.jumpHost?.toLowerCase() === 'none' ? undefined : values.jumpHost;
  return {
    alias,
    hostname: host,
    port,
    user,
    identityFiles: (configuredKeys.length > 0 ? configuredKeys : DEFAULT_IDENTITY_FILES).filter((file) => file.toLowerCase() !== 'none').map(expandPath),
    identitiesOnly: values.identitiesOnly ?? false,
    identityAgent: values.identityAgent === undefined ? undefined : expandPath(values.identityAgent),
    userKnownHostsFiles: withoutNone(values.userKnownHostsFiles ?? DEFAULT_USER_KNOWN_HOSTS).map(expandPath),
    globalKnownHostsFiles: withoutNone(values.globalKnownHostsFiles ?? DEFAULT_GLOBAL_KNOWN_HOSTS).map((file) => expandTilde(file, sources.home)),
    hostKeyAlias,
    connectTimeout: values.connectTimeout,
    serverAliveInterval: values.serverAliveInterval ?? (sources.debianDefaults && values.batchMode ? 300 : 0),
    serverAliveCountMax: values.serverAliveCountMax ?? 3,
    proxyJump: jumpHost,
    proxyCommand: jumpHost !== undefined || values.proxyCommand?.toLowerCase() === 'none' ? undefined : values.proxyCommand,
    strictHostKeyChecking: values.strictHostKeyChecking ?? 'ask',
    batchMode: values.batchMode ?? false,
    hostKeyAlgorithms: assembleAlgorithms(values.hostKeyAlgorithms, OPENSSH_DEFAULT_HOST_KEY_ALGORITHMS, OPENSSH_HOST_KEY_ALGORITHMS, 'HostKeyAlgorithms'),
    hostKeyAlgorithmsSetting: values.hostKeyAlgorithms,
    caSignatureAlgorithms: assembleAlgorithms(values.caSignatureAlgorithms, OPENSSH_DEFAULT_CA_SIGNATURE_ALGORITHMS, OPENSSH_SIGNATURE_ALGORITHMS, 'CASignatureAlgorithms'),
    caSignatureAlgorithmsSetting: values.caSignatureAlgorithms,
    revokedHostKeys: values.revokedHostKeys,
  };
}

/**
 * Resolves an SSH alias through the OpenSSH client config exactly as `ssh -G` (OpenSSH 9.2) does:
 * first obtained value wins (IdentityFile accumulates), Host patterns with `!` negation, Match
 * host/originalhost/user/localuser/all/canonical/final (`exec` never matches: nothing is run),
 * Include with globs (conditional inside Host/Match), a second pass when `Match final` or
 * CanonicalizeHostname asks for one (no DNS canonicalisation is done: the name stays as configured),
 * `%` tokens and `~` where ssh expands them, and ssh's defaults.
 * Throws {@link SshConfigError} where ssh would refuse the config.
 */
export function resolveSshConfig(alias: string, options: SshConfigSources): ResolvedSshConfig {
  const sources = withDefaults(options);
  const values: ObtainedValues = { identityFiles: [] };
  const firstPass: ConfigPass = { sources, values, host: alias, originalHost: alias, finalPass: false, wantsFinalPass: false };
  readConfigFiles(firstPass);
  const host = remoteHostName(values.hostname, alias);
  if (firstPass.wantsFinalPass || (values.canonicalizeHostname ?? 'no') !== 'no') {
    values.hostname = host;
    readConfigFiles({ ...firstPass, host, finalPass: true });
  }
  return finishConfig(alias, host, values, sources);
}

/**
 * The agent socket ssh would use for this config (ssh.c): IdentityAgent `none` → no agent;
 * unset or `SSH_AUTH_SOCK` → `$SSH_AUTH_SOCK`; `$NAME` → that variable; otherwise the path itself.
 */
export function agentSocketFor(config: Pick<ResolvedSshConfig, 'identityAgent'>, env: Record<string, string | undefined>): string | undefined {
  const agent = config.identityAgent;
  if (agent === undefined || agent === 'SSH_AUTH_SOCK') return env.SSH_AUTH_SOCK;
  if (agent === 'none') return undefined;
  if (agent.startsWith('$') && !agent.startsWith('${')) return env[agent.slice(1)];
  return agent;
}
