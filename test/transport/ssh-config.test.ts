import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createConfigFiles, resolveSshConfig, type ResolvedSshConfig } from '../../src/transport/ssh/ssh-config.ts';

// The oracle is the real `ssh -G` (and `ssh -v` for identity files, which -G prints unexpanded).
// ssh expands `~` with the passwd home of the invoking user, so the resolver gets that same home;
// relative Include paths live in that user's ~/.ssh, where one case makes (and removes) a directory.
const { homedir: realHome, username: localUser } = os.userInfo();
const TEST_ENV_VAR = 'DEPLOY_SERVER_SSH_TEST_DIR';
/** Debian's ssh (the one installed here) defaults ServerAliveInterval to 300 under BatchMode. */
const isDebianSsh = spawnSync('ssh', ['-V'], { encoding: 'utf8' }).stderr.includes('Debian');

interface CaseContext {
  /** An absolute directory of this case. */
  dir: string;
  /** A directory under ~/.ssh, relative to it (for relative Include paths). */
  sshRelDir: string;
}

interface OracleCase {
  name: string;
  alias: string;
  config: (ctx: CaseContext) => string;
  /** Extra files, by path relative to ctx.dir (or absolute). */
  files?: (ctx: CaseContext) => Record<string, string>;
}

const cases: OracleCase[] = [
  {
    name: 'no matching block: every default',
    alias: 'plain.example',
    config: () => 'Host other\n  User x\n',
  },
  {
    name: 'alias defined in an absolute Include with a glob; first value wins across included files',
    alias: 'web',
    config: ({ dir }) => `Include ${dir}/conf.d/*.conf\nHost *\n  User fallback\n`,
    files: () => ({
      'conf.d/10-web.conf': 'Host web\n  HostName web.internal\n  Port 2222\n',
      'conf.d/20-more.conf': 'Host web\n  Port 3333\n  User deploy\n',
      'conf.d/30-ignored.txt': 'Host web\n  User never\n',
    }),
  },
  {
    name: 'relative Include path resolved against ~/.ssh',
    alias: 'rel',
    config: ({ sshRelDir }) => `Include ${sshRelDir}/*.conf\n`,
    files: ({ sshRelDir }) => ({
      [path.join(realHome, '.ssh', sshRelDir, 'rel.conf')]: 'Host rel\n  HostName rel.example.org\n  User relative\n',
    }),
  },
  {
    name: 'Include inside Host blocks applies only when the block matches, and does not leak its Host state',
    alias: 'web',
    config: ({ dir }) =>
      `Host web\n  Include ${dir}/web.conf\n  ConnectTimeout 7\nHost other\n  Include ${dir}/other.conf\nHost *\n  Port 2500\n`,
    files: () => ({
      'web.conf': 'User fromweb\nHost nothing-matches-this\n  Port 1\n',
      'other.conf': 'User wrong\nHost *\n  Port 9999\n  IdentitiesOnly yes\n',
    }),
  },
  {
    name: '%h %p %r %d %u %n %l %L %i %C %k tokens and ${VAR} in IdentityFile and UserKnownHostsFile',
    alias: 'tok',
    config: ({ dir }) =>
      'Host tok\n  HostName %h.Example.NET\n  User alice\n  Port 2022\n' +
      '  IdentityFile ~/.ssh/id_%h_%p_%r\n  IdentityFile %d/keys/%u-%n-%l-%L-%i-%C\n' +
      `  IdentityFile \${${TEST_ENV_VAR}}/env_key_%%\n` +
      `  UserKnownHostsFile ~/.ssh/kh_%h_%p %d/kh_%k ${dir}/kh_%r\n`,
  },
  {
    name: 'ProxyJump chain a,b wins over a later ProxyCommand',
    alias: 'jumped',
    config: () => 'Host jumped\n  ProxyJump alice@bastion1:2222,bastion2\nHost *\n  ProxyCommand nc %h %p\n  ProxyJump other\n',
  },
  {
    name: 'ProxyJump none blocks a later ProxyJump, not a later ProxyCommand (as ssh -G 9.2 prints)',
    alias: 'direct',
    config: () => 'Host direct\n  ProxyJump none\nHost *\n  ProxyJump bastion\n  ProxyCommand nc %h %p\n',
  },
  {
    name: 'ProxyCommand first: a later ProxyJump is ignored',
    alias: 'piped',
    config: () => 'Host piped\n  ProxyCommand ssh -W %h:%p gateway # kept whole\nHost *\n  ProxyJump bastion\n',
  },
  {
    name: 'Host * !bastion: the negated host gets nothing from the block',
    alias: 'bastion',
    config: () => 'Host * !bastion\n  ProxyJump bastion\n  User everyone\nHost bastion\n  HostName 10.0.0.1\n  User jump\n',
  },
  {
    name: 'Host * !bastion: any other host gets the block',
    alias: 'app',
    config: () => 'Host * !bastion\n  ProxyJump bastion\n  User everyone\nHost bastion\n  HostName 10.0.0.1\n',
  },
  {
    name: 'first value wins: Host * before the specific block',
    alias: 'web',
    config: () => 'Host *\n  User generic\n  Port 2200\nHost web\n  User specific\n  Port 2300\n  IdentityFile ~/.ssh/web\n',
  },
  {
    name: 'first value wins: the specific block before Host *, whose other values fill the gaps',
    alias: 'web',
    config: () => 'Host web\n  User specific\nHost *\n  User generic\n  Port 2200\n  ServerAliveInterval 20\n',
  },
  {
    name: 'Match host tests the HostName obtained so far (case-insensitively); originalhost the alias',
    alias: 'web',
    config: () =>
      'Host web\n  HostName web.Internal.example\nMatch host *.internal.example\n  User matched\n  Port 2201\n' +
      'Match originalhost web\n  ServerAliveInterval 30\nMatch host web\n  ServerAliveCountMax 9\n',
  },
  {
    name: 'Match user tests the User obtained so far; negation',
    alias: 'web',
    config: () =>
      'Host web\n  User deploy\nMatch user deploy\n  IdentityFile ~/.ssh/deploy_key\nMatch user root,admin\n  IdentityFile ~/.ssh/root_key\n' +
      'Match !user root\n  IdentityFile ~/.ssh/not_root\n',
  },
  {
    name: 'Match localuser',
    alias: 'web',
    config: () => `Match localuser ${localUser}\n  User via-localuser\nMatch localuser nobody-else-*\n  Port 1\n`,
  },
  {
    name: 'Match all',
    alias: 'web',
    config: () => 'Host web\n  Port 2300\nMatch all\n  User everyone\n  Port 1\n',
  },
  {
    name: 'Match exec: the command fails (never matches), !exec holds',
    alias: 'web',
    config: () => 'Match exec "exit 1"\n  User by-exec\nMatch !exec "exit 1"\n  Port 2444\n',
  },
  {
    name: 'Match final: a second pass where Host patterns see the resolved host name',
    alias: 'web',
    config: () => 'Host web\n  HostName Real.Example.COM\nMatch final\n  Port 2200\nHost real.example.com\n  User viafinal\n',
  },
  {
    name: 'multiple IdentityFile lines accumulate in order, duplicates dropped',
    alias: 'keys',
    config: () => 'Host keys\n  IdentityFile ~/.ssh/a\n  IdentityFile ~/.ssh/b\n  IdentityFile ~/.ssh/a\nHost *\n  IdentityFile ~/.ssh/c\n',
  },
  {
    name: 'IdentityFile none: no defaults, nothing loaded',
    alias: 'nokeys',
    config: () => 'Host nokeys\n  IdentityFile none\n',
  },
  {
    name: 'several UserKnownHostsFile values on one line; a later line is ignored; GlobalKnownHostsFile none',
    alias: 'kh',
    config: ({ dir }) =>
      `Host kh\n  UserKnownHostsFile ${dir}/one ~/.ssh/two  %d/three\n  UserKnownHostsFile ${dir}/ignored\n  GlobalKnownHostsFile none\n`,
  },
  {
    name: 'UserKnownHostsFile none; GlobalKnownHostsFile custom list',
    alias: 'kh',
    config: ({ dir }) => `Host kh\n  UserKnownHostsFile none\n  GlobalKnownHostsFile ${dir}/g1 ${dir}/g2\n`,
  },
  {
    name: 'IdentitiesOnly yes and IdentityAgent none',
    alias: 'agentless',
    config: () => 'Host agentless\n  IdentitiesOnly yes\n  IdentityAgent none\n',
  },
  {
    name: 'IdentityAgent custom path with tokens',
    alias: 'agent',
    config: () => 'Host agent\n  User ops\n  IdentityAgent ~/.ssh/agent-%r-%h.sock\n',
  },
  {
    name: 'IdentityAgent SSH_AUTH_SOCK',
    alias: 'agent',
    config: () => 'Host agent\n  IdentityAgent SSH_AUTH_SOCK\n',
  },
  {
    name: 'HostKeyAlias (lowercased, in %k), ConnectTimeout with units, ServerAlive*',
    alias: 'aliased',
    config: () =>
      'Host aliased\n  HostKeyAlias MyAlias.Example\n  ConnectTimeout 1m30s\n  ServerAliveInterval 15\n  ServerAliveCountMax 5\n' +
      '  UserKnownHostsFile ~/.ssh/kh_%k\n',
  },
  {
    name: 'ConnectTimeout none leaves it unset for a later value',
    alias: 'web',
    config: () => 'Host web\n  ConnectTimeout none\nHost *\n  ConnectTimeout 10\n',
  },
  {
    name: 'Key=Value syntax, quoted paths with spaces, case-insensitive keywords, trailing comments',
    alias: 'web',
    config: ({ dir }) =>
      `HOST=web\n  hostname = web.example\n  PORT=2400\n  IdentityFile "~/.ssh/my key"\n  identityfile='${dir}/other key' # comment\n` +
      '  UsEr "bob"\n\tStrictHostKeyChecking accept-new\n  BATCHMODE yes\n',
  },
  {
    name: 'Host patterns are case-sensitive; the host name is lowercased',
    alias: 'Web.Example',
    config: () => 'Host web.example\n  User lower\nHost Web.*\n  Port 2600\nHost W?b.Example\n  ServerAliveInterval 5\n',
  },
  {
    name: 'StrictHostKeyChecking off and an IP HostName',
    alias: 'ip',
    config: () => 'Host ip\n  HostName 192.168.1.10\n  StrictHostKeyChecking off\n',
  },
  ...[
    ['appended to the default', '+ssh-rsa'],
    ['removed by pattern', '-*cert*,ssh-ed25519'],
    ['put first, without a second copy further on', '^ssh-rsa,rsa-sha2-512'],
    ['patterns expanded in OpenSSH order', 'ssh-ed25519*,rsa-sha2-*'],
    ['an explicit list, duplicates dropped', 'ssh-rsa,ecdsa-sha2-nistp256,ssh-rsa'],
    ['removing a name it does not know', '-nosuch-alg'],
    ['with empty names (ssh stops checking at the first)', 'ssh-ed25519,,nosuch'],
  ].map(([what, value]): OracleCase => ({
    name: `HostKeyAlgorithms and CASignatureAlgorithms ${what} (${value})`,
    alias: 'algs',
    config: () => `Host algs\n  HostKeyAlgorithms ${value}\n  CASignatureAlgorithms ${value.replace(/cert\*,/, '')}\nHost *\n  HostKeyAlgorithms ssh-ed25519\n`,
  })),
  {
    name: 'RevokedHostKeys with ~ and tokens',
    alias: 'revoking',
    config: () => 'Host revoking\n  RevokedHostKeys ~/.ssh/revoked-%h\n',
  },
];

/** Configs ssh refuses (it exits non-zero): the resolver must refuse them too. */
const refusedConfigs: { name: string; config: string }[] = [
  { name: 'unknown keyword', config: 'Host web\n  NoSuchOption yes\n' },
  { name: 'an unknown host key algorithm', config: 'Host web\n  HostKeyAlgorithms +ssh-nosuch\n' },
  { name: 'a CA signature pattern no algorithm matches', config: 'Host web\n  CASignatureAlgorithms nosuch-*\n' },
  { name: 'extra argument', config: 'Host web\n  User alice bob\n' },
  { name: 'port out of range', config: 'Port 70000\n' },
  { name: 'unclosed quote', config: 'IdentityFile "~/.ssh/key\n' },
  { name: 'keyword without argument', config: 'User\n' },
  { name: 'none among other known_hosts files', config: 'UserKnownHostsFile none ~/.ssh/kh\n' },
  { name: 'Match all combined', config: 'Match all host web\n  User x\n' },
  { name: 'unknown % token', config: 'IdentityFile ~/.ssh/%z\n' },
];

/** `ssh -G` output: lowercase key → the values of its lines. */
function parseSshG(output: string): Map<string, string[]> {
  const fields = new Map<string, string[]>();
  for (const line of output.split('\n')) {
    const space = line.indexOf(' ');
    if (space < 0) continue;
    const key = line.slice(0, space);
    fields.set(key, [...(fields.get(key) ?? []), line.slice(space + 1)]);
  }
  return fields;
}

/** The identity files ssh really loads, from `ssh -v` (it tries `<file>-cert` after each: skipped). */
function parseIdentityFiles(verboseOutput: string): string[] {
  const files: string[] = [];
  for (const match of verboseOutput.matchAll(/^debug1: identity file (.*) type -?\d+$/gm)) {
    if (files.length > 0 && match[1] === `${files[files.length - 1]}-cert`) continue;
    files.push(match[1]);
  }
  return files;
}

type Comparable = Record<string, string | undefined>;

function strictHostKeyCheckingAsSshPrintsIt(value: ResolvedSshConfig['strictHostKeyChecking']): string {
  return value === 'yes' ? 'true' : value === 'no' ? 'false' : value;
}

function comparableResolved(config: ResolvedSshConfig): Comparable {
  return {
    hostname: config.hostname,
    port: String(config.port),
    user: config.user,
    identityfile: JSON.stringify(config.identityFiles),
    identitiesonly: config.identitiesOnly ? 'yes' : 'no',
    identityagent: config.identityAgent,
    userknownhostsfile: config.userKnownHostsFiles.join(' ') || 'none', // ssh -G prints an empty list as none
    globalknownhostsfile: config.globalKnownHostsFiles.join(' ') || 'none',
    hostkeyalias: config.hostKeyAlias,
    connecttimeout: config.connectTimeout === undefined ? 'none' : String(config.connectTimeout),
    serveraliveinterval: String(config.serverAliveInterval),
    serveralivecountmax: String(config.serverAliveCountMax),
    proxyjump: config.proxyJump,
    proxycommand: config.proxyCommand,
    stricthostkeychecking: strictHostKeyCheckingAsSshPrintsIt(config.strictHostKeyChecking),
    batchmode: config.batchMode ? 'yes' : 'no',
    hostkeyalgorithms: config.hostKeyAlgorithms.join(','),
    casignaturealgorithms: config.caSignatureAlgorithms.join(','),
    revokedhostkeys: config.revokedHostKeys,
  };
}

function comparableOracle(sshG: Map<string, string[]>, identityFiles: string[]): Comparable {
  const one = (key: string) => {
    const values = sshG.get(key);
    assert.ok(values === undefined || values.length === 1, `ssh -G printed ${key} ${values?.length} times`);
    return values?.[0];
  };
  return {
    hostname: one('hostname'),
    port: one('port'),
    user: one('user'),
    identityfile: JSON.stringify(identityFiles),
    identitiesonly: one('identitiesonly'),
    identityagent: one('identityagent'),
    userknownhostsfile: one('userknownhostsfile'),
    globalknownhostsfile: one('globalknownhostsfile'),
    hostkeyalias: one('hostkeyalias'),
    connecttimeout: one('connecttimeout'),
    serveraliveinterval: one('serveraliveinterval'),
    serveralivecountmax: one('serveralivecountmax'),
    proxyjump: one('proxyjump'),
    proxycommand: one('proxycommand'),
    stricthostkeychecking: one('stricthostkeychecking'),
    batchmode: one('batchmode'),
    hostkeyalgorithms: one('hostkeyalgorithms'),
    casignaturealgorithms: one('casignaturealgorithms'),
    revokedhostkeys: one('revokedhostkeys'),
  };
}

describe('resolveSshConfig agrees with ssh -G (OpenSSH 9.2)', () => {
  let root = '';
  let sshDir = '';
  let sshDirExisted = false;
  let sshRelAbs = '';
  const env = () => ({ PATH: process.env.PATH, HOME: realHome, LC_ALL: 'C', [TEST_ENV_VAR]: path.join(root, 'env dir') });

  before(() => {
    root = mkdtempSync(path.join(os.tmpdir(), 'ssh-config-oracle-'));
    sshDir = path.join(realHome, '.ssh');
    sshDirExisted = existsSync(sshDir);
    mkdirSync(sshDir, { recursive: true, mode: 0o700 });
    sshRelAbs = mkdtempSync(path.join(sshDir, 'deploy-server-test-'));
  });

  after(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(sshRelAbs, { recursive: true, force: true });
    if (!sshDirExisted) rmdirSync(sshDir);
  });

  cases.forEach((oracleCase, index) => {
    test(oracleCase.name, () => {
      const dir = path.join(root, `case-${index}`);
      mkdirSync(dir, { recursive: true });
      const ctx: CaseContext = { dir, sshRelDir: path.basename(sshRelAbs) };
      for (const [name, text] of Object.entries(oracleCase.files?.(ctx) ?? {})) {
        const file = path.resolve(dir, name);
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, text);
        chmodSync(file, 0o644); // ssh refuses group/world-writable included files
      }
      const configFile = path.join(dir, 'config');
      writeFileSync(configFile, oracleCase.config(ctx));

      const sshG = execFileSync('ssh', ['-G', '-F', configFile, oracleCase.alias], { env: env(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      // -G prints IdentityFile unexpanded: ssh -v shows the files it loads. ProxyCommand=true
      // gets it that far without a network (it then fails the key exchange).
      const verbose = spawnSync('ssh', ['-v', '-F', configFile, '-o', 'ProxyCommand=true', '-o', 'BatchMode=yes', oracleCase.alias], {
        env: env(),
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const oracle = comparableOracle(parseSshG(sshG), parseIdentityFiles(verbose.stderr));

      const resolved = resolveSshConfig(oracleCase.alias, { home: realHome, localUser, configFile, env: env(), debianDefaults: isDebianSsh });
      assert.deepEqual(comparableResolved(resolved), oracle);
    });
  });

  for (const refused of refusedConfigs) {
    test(`refuses what ssh refuses: ${refused.name}`, () => {
      const configFile = path.join(root, `refused-${refused.name.replace(/\W+/g, '-')}`);
      writeFileSync(configFile, refused.config);
      // -G leaves IdentityFile tokens unexpanded, so a bad token only fails a real (-v) run.
      const run = spawnSync('ssh', ['-v', '-F', configFile, '-o', 'ProxyCommand=true', 'web'], { env: env(), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
      assert.doesNotMatch(run.stderr, /identity file .* type/, 'ssh got as far as loading keys');
      assert.throws(() => resolveSshConfig('web', { home: realHome, localUser, configFile, env: env() }), { name: 'SshConfigError' });
    });
  }
});

test('an edited config is read again by the next resolution (the files are kept between connections only while unchanged)', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ssh-config-edit-'));
  try {
    const configFile = path.join(dir, 'config');
    const files = createConfigFiles(); // as a connector keeps them
    writeFileSync(configFile, 'Host web\n  User first\n');
    assert.equal(resolveSshConfig('web', { home: realHome, localUser, configFile, files }).user, 'first');
    assert.equal(resolveSshConfig('web', { home: realHome, localUser, configFile, files }).user, 'first');
    writeFileSync(configFile, 'Host web\n  User other\n');
    assert.equal(resolveSshConfig('web', { home: realHome, localUser, configFile, files }).user, 'other');
    writeFileSync(configFile, 'Host web\n  User other\n  Port\n');
    assert.throws(() => resolveSshConfig('web', { home: realHome, localUser, configFile, files }), { name: 'SshConfigError', message: /line 3: no argument after keyword "port"/ });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
