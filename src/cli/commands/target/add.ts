import { Command, Option } from 'clipanion';
import { DeployCommand } from '../../base-command.ts';
import type { InvalidTargetError, TargetFields } from '../../../domain/target-schema.ts';

/** Flag name of each target field, for parsing and for error messages that name the flag. */
const FLAGS: Record<keyof TargetFields, string> = {
  app: '--app',
  host: '--host',
  remote_dir: '--remote-dir',
  binary: '--binary',
  build_cmd: '--build',
  user: '--user',
  port: '--port',
  health: '--health',
  env: '--env',
  strategy: '--strategy',
  source_dir: '--source-dir',
  branch: '--branch',
  compose_files: '--compose-files',
  repo: '--repo',
  repo_name: '--repo-name',
  auto_rollback: '--auto-rollback',
  keep_releases: '--keep',
  skip_ci_marker: '--skip-ci-marker',
};

export class TargetAddCommand extends DeployCommand {
  static override paths = [['target', 'add']];
  static override usage = Command.Usage({
    category: 'Targets',
    description: 'add a deploy target (one app on one host), or update an existing one',
    details: `
      A target says how one app is deployed to one host. Running it again for the same \`--app\` and
      \`--host\` updates that target: the flags given replace the stored values, the others are kept.

      Defaults: \`--remote-dir\` /opt/apps/<app>, \`--binary\` <app>, \`--port\` 0 (no HTTP health check),
      \`--env\` {}, \`--strategy\` systemd, \`--branch\` main.
    `,
    examples: [
      ['Ship a Go binary built locally', '$0 target add --app my_app --host vps1 --port 8080 --health /api/health --build "go build -o my_app ." --strategy systemd'],
      ['Build on the host from a git checkout', '$0 target add --app api --host vps1 --strategy systemd-remote --build "make" --repo git@git.example.com:acme/api.git'],
      ['Docker compose with an extra file', '$0 target add --app chat --host vps2 --strategy docker-compose --compose-files docker-compose.prod.yml'],
      ['Deploy only pushes of one repository (org-wide webhooks)', '$0 target add --app api --host vps1 --repo-name acme/api'],
      ['Set environment variables', `$0 target add --app my_app --host vps1 --env '{"LOG_LEVEL":"debug"}'`],
    ],
  });

  app = Option.String('--app', { description: 'app name (the Gitea repo name for repo-name webhook matching)' });
  host = Option.String('--host', { description: 'SSH alias from ~/.ssh/config, or localhost' });
  remoteDir = Option.String('--remote-dir', { description: 'directory of the app on the host (default /opt/apps/<app>)' });
  binary = Option.String('--binary', { description: 'binary name (default: the app name)' });
  build = Option.String('--build', { description: 'build command: local for systemd, on the host for systemd-remote' });
  user = Option.String('--user', { description: 'systemd service user' });
  port = Option.String('--port', { description: 'service port for health checks (0 = none)' });
  health = Option.String('--health', { description: 'health check path, e.g. /api/health' });
  env = Option.String('--env', { description: 'environment variables as a JSON object of strings' });
  strategy = Option.String('--strategy', { description: 'systemd, systemd-remote or docker-compose' });
  sourceDir = Option.String('--source-dir', { description: 'local source dir relative to the registry root (default apps/<app>)' });
  branch = Option.String('--branch', { description: 'git branch to deploy from (default main)' });
  composeFiles = Option.String('--compose-files', { description: 'extra compose files, comma-separated' });
  repo = Option.String('--repo', { description: 'git URL that setup clones for remote strategies (its owner/name becomes --repo-name unless given)' });
  repoName = Option.String('--repo-name', { description: 'owner/name: only pushes from this repository deploy the target (default: from --repo, else any)' });
  autoRollback = Option.Boolean('--auto-rollback', {
    description: 'put the previous release back when the health check fails (default; --no-auto-rollback opts out)',
  });
  keep = Option.String('--keep', { description: 'releases kept on the host (systemd; default DEPLOY_KEEP_RELEASES, 5)' });

  skipCiMarker = Option.Boolean('--skip-ci-marker', {
    description: 'a push whose head commit says [skip ci] deploys nothing here either (--no-skip-ci-marker: the default)',
  });

  async run() {
    const [{ InvalidTargetError, parseTarget }, { saveTarget }] = await Promise.all([import('../../../domain/target-schema.ts'), import('../../../domain/targets.ts')]);
    const input: Record<keyof TargetFields, unknown> = {
      app: this.app,
      host: this.host,
      remote_dir: this.remoteDir,
      binary: this.binary,
      build_cmd: this.build,
      user: this.user,
      port: this.port === undefined ? undefined : parseWholeNumber(this.port),
      health: this.health,
      env: this.env === undefined ? undefined : parseJsonFlag('--env', this.env),
      strategy: this.strategy,
      source_dir: this.sourceDir,
      branch: this.branch,
      compose_files: this.composeFiles?.split(',').map((file) => file.trim()).filter(Boolean),
      repo: this.repo,
      repo_name: this.repoName,
      auto_rollback: this.autoRollback,
      keep_releases: this.keep === undefined ? undefined : parseWholeNumber(this.keep),
      skip_ci_marker: this.skipCiMarker,
    };
    const flagErrors = (error: unknown) => {
      throw error instanceof InvalidTargetError ? nameTheFlag(error, InvalidTargetError) : error;
    };
    // A value given is invalid whatever the stored target holds: refuse it before opening (or creating) the database.
    try {
      parseTarget(Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)));
    } catch (error) {
      flagErrors(error);
    }
    const { target, created } = await this.withDatabase((orm) => saveTarget(orm.em.fork(), input).catch(flagErrors));
    this.context.stdout.write(`${created ? 'added' : 'updated'} target ${target.app} on ${target.host} (${target.strategy}, ${target.remote_dir})\n`);
  }
}

/** A whole number as a number; anything else as it is, for the schema to name the problem. */
function parseWholeNumber(raw: string): unknown {
  return /^-?\d+$/.test(raw.trim()) ? Number(raw) : raw;
}

/** Never echoes the value, nor JSON.parse's message (which quotes it): `--env` holds secrets. */
function parseJsonFlag(flag: string, raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch (error) {
    const position = /position (\d+)/.exec((error as Error).message)?.[1];
    throw new Error(`${flag} is not valid JSON${position ? ` (at character ${Number(position) + 1})` : ''}: expected an object like '{"NAME":"value"}'`);
  }
}

/** "port must be …" becomes "--port must be …": the user typed flags, not field names. */
function nameTheFlag(error: InvalidTargetError, Invalid: typeof InvalidTargetError): Error {
  const flag = error.field && FLAGS[error.field as keyof TargetFields];
  if (!flag || !error.field) return error;
  const message = error.reason.startsWith(error.field) ? flag + error.reason.slice(error.field.length) : `${flag}: ${error.reason}`;
  return new Invalid(error.field, message);
}
