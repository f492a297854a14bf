import type { RunView } from '../../src/engine/run-store.ts';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startSshdHarness, type SshdHarness } from './sshd.ts';
import { runCliInProcess, type CliResult } from './cli.ts';

/** A port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * The program every test app ships: a real HTTP server on $PORT answering its version; `/health`
 * answers 503 when the version starts with "broken". Built by `sh build.sh` from `version.txt`.
 */
const BUILD_SCRIPT = `#!/bin/sh
set -e
version=$(cat version.txt)
cat > "$1" <<EOF
#!/bin/sh
exec ${process.execPath} -e 'const v = "$version"; require("http").createServer((q, s) => { s.statusCode = q.url === "/health" && v.startsWith("broken") ? 503 : 200; s.end(v); }).listen(Number(process.env.PORT), "127.0.0.1")'
EOF
chmod +x "$1"
echo "built $1 $version"
`;

export function writeAppSource(dir: string, version: string): void {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'build.sh'), BUILD_SCRIPT);
  fs.writeFileSync(path.join(dir, 'version.txt'), version);
}

export { BUILD_SCRIPT };

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'safe.directory=*', '-c', 'user.name=test', '-c', 'user.email=test@example.com', ...args], { cwd, encoding: 'utf8' }).trim();
}

/** A bare origin owned by the SSH user (git refuses repositories of other users) and a working clone to push from. */
export function createOrigin(harness: SshdHarness, name: string, files: Record<string, string>): { origin: string; work: string; commit: (files: Record<string, string>, message: string) => string } {
  const origin = path.join(harness.workDir, `${name}.git`);
  const work = path.join(harness.tmpDir, `${name}-work`);
  execFileSync('git', ['init', '-q', '--bare', '-b', 'main', origin]);
  fs.mkdirSync(work, { recursive: true });
  git(work, 'init', '-q', '-b', 'main');
  git(work, 'remote', 'add', 'origin', origin);
  const commit = (changed: Record<string, string>, message: string) => {
    for (const [file, content] of Object.entries(changed)) fs.writeFileSync(path.join(work, file), content);
    git(work, 'add', '-A');
    git(work, 'commit', '-q', '-m', message);
    // git refuses repositories of other users: as root (the SSH user is deploytest), root owns the
    // origin while it pushes, the SSH user after.
    const foreign = process.getuid!() !== harness.uid;
    if (foreign) execFileSync('chown', ['-R', 'root', origin]);
    git(work, 'push', '-q', 'origin', 'HEAD:main');
    if (foreign) execFileSync('chown', ['-R', harness.user, origin]);
    return git(work, 'rev-parse', 'HEAD');
  };
  commit(files, 'first');
  return { origin, work, commit };
}

export interface DeployWorld {
  harness: SshdHarness;
  env: NodeJS.ProcessEnv;
  registryRoot: string;
  cli: (...args: string[]) => Promise<CliResult>;
  /** `deploy … --json`, parsed. */
  deploy: (...args: string[]) => Promise<{ code: number; runs: DeployReport[]; stderr: string }>;
  stop: () => Promise<void>;
}

/** One run of `deploy --json`: the one shape of a run (src/engine/run-store.ts). */
export type DeployReport = RunView & { trace_url: string | null };

/**
 * One sshd, a database, a registry root and the env deploy_server runs with. Extra aliases:
 * `unreachable` (a closed port) and `stranger` (a host key nobody trusts).
 */
export async function startDeployWorld(options: { healthTimeoutS?: number } = {}): Promise<DeployWorld> {
  const harness = await startSshdHarness();
  const closedPort = await freePort();
  const emptyKnownHosts = path.join(harness.tmpDir, 'empty_known_hosts');
  fs.writeFileSync(emptyKnownHosts, '');
  fs.appendFileSync(
    harness.sshConfigFile,
    [
      '',
      'Host unreachable',
      '  HostName 127.0.0.1',
      `  Port ${closedPort}`,
      `  User ${harness.user}`,
      `  IdentityFile ${harness.identityFile}`,
      'Host stranger',
      '  HostName 127.0.0.1',
      `  Port ${harness.port}`,
      `  User ${harness.user}`,
      `  IdentityFile ${harness.identityFile}`,
      `  UserKnownHostsFile ${emptyKnownHosts}`,
      '',
    ].join('\n'),
  );
  const registryRoot = path.join(harness.tmpDir, 'registry');
  fs.mkdirSync(registryRoot);
  const env = {
    ...harness.env,
    DEPLOY_DB: path.join(harness.tmpDir, 'operations.db'),
    DEPLOY_REGISTRY_ROOT: registryRoot,
    DEPLOY_UNIT_DIR: harness.unitDir,
    DEPLOY_HEALTH_TIMEOUT: String(options.healthTimeoutS ?? 4),
    DEPLOY_SSH_TIMEOUT: '5',
  };
  const cli = (...args: string[]) => runCliInProcess(args, env);
  return {
    harness,
    env,
    registryRoot,
    cli,
    deploy: async (...args) => {
      const result = await cli('deploy', ...args, '--json');
      return { code: result.code, runs: result.stdout ? JSON.parse(result.stdout) : [], stderr: result.stderr };
    },
    stop: () => harness.stop(),
  };
}

export function stepStatuses(run: DeployReport): Record<string, string> {
  return Object.fromEntries(run.steps.map((s) => [s.step, s.status]));
}

export async function httpText(port: number, urlPath = '/'): Promise<{ status: number; body: string }> {
  const response = await fetch(`http://127.0.0.1:${port}${urlPath}`);
  return { status: response.status, body: await response.text() };
}

/**
 * Adds a target whose app serves HTTP on a port of its own (the build of BUILD_SCRIPT, reading PORT
 * from its env) with a `/health` check, and runs `setup` for it. The app's source is the caller's:
 * `writeAppSource` in the registry root (systemd), or a `repo` holding BUILD_SCRIPT (systemd-remote).
 */
export async function addServingApp(
  world: DeployWorld,
  app: string,
  options: { strategy?: 'systemd' | 'systemd-remote'; repo?: string; remoteDir?: string; build?: string; flags?: string[] } = {},
): Promise<{ port: number; remoteDir: string; setup: CliResult }> {
  const port = await freePort();
  const remoteDir = options.remoteDir ?? path.join(world.harness.workDir, app);
  const add = await world.cli(
    'target', 'add', '--app', app, '--host', world.harness.alias, '--strategy', options.strategy ?? 'systemd', '--remote-dir', remoteDir,
    ...(options.repo ? ['--repo', options.repo] : []), '--build', options.build ?? `sh build.sh ${app}`,
    '--port', String(port), '--health', '/health', '--env', JSON.stringify({ PORT: String(port) }), ...(options.flags ?? []),
  );
  if (add.code !== 0) throw new Error(`target add ${app}: ${add.stderr}`);
  const setup = await world.cli('setup', app, '--host', world.harness.alias);
  if (setup.code !== 0) throw new Error(`setup ${app}: ${setup.stderr}`);
  return { port, remoteDir, setup };
}
