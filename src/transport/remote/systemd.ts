import { shellQuote as q } from '../shell.ts';
import type { ShellCommand } from './shell-command.ts';
import type { TargetFields } from '../../domain/target-schema.ts';

/** systemctl, through `sudo -n` (never prompts) unless the SSH user is root. */
function systemctl(sudo: boolean, ...args: string[]): ShellCommand {
  return { name: `systemctl ${args[0]}`, command: `${sudo ? 'sudo -n ' : ''}systemctl ${args.map(q).join(' ')}` };
}

export function restartService(app: string, sudo: boolean): ShellCommand {
  return systemctl(sudo, 'restart', app);
}

export function isServiceActive(app: string, sudo: boolean): ShellCommand {
  return systemctl(sudo, 'is-active', app);
}

export function serviceStatus(app: string, sudo: boolean): ShellCommand {
  return systemctl(sudo, 'status', '--no-pager', app);
}

export function reloadUnits(sudo: boolean): ShellCommand {
  return systemctl(sudo, 'daemon-reload');
}

export function enableService(app: string, sudo: boolean): ShellCommand {
  return systemctl(sudo, 'enable', app);
}

/** Writes the unit file (into `unitDir`, normally /etc/systemd/system) from stdin, so env values never appear on a command line. */
export function writeUnitFile(unitDir: string, app: string, sudo: boolean, unit: string): ShellCommand {
  const path = `${unitDir}/${app}.service`;
  return { name: 'write unit', command: `${sudo ? 'sudo -n ' : ''}tee ${q(path)} > /dev/null`, display: `write ${path}`, stdin: unit };
}

/** `%` starts a systemd specifier (`%h`, `%n`…): `%%` is a literal one. */
function escapeSpecifiers(value: string): string {
  return value.replace(/%/g, '%%');
}

/** systemd's own quoting for a value in double quotes: backslash, quote, and `%` specifiers. */
function systemdQuote(value: string): string {
  return `"${escapeSpecifiers(value).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** The unit of SPEC §3: User, WorkingDirectory, ExecStart, one Environment= per env entry, Restart=on-failure. */
export function renderUnit(target: TargetFields): string {
  const lines = [
    '[Unit]',
    `Description=${target.app} (deployed by deploy_server)`,
    'After=network-online.target',
    'Wants=network-online.target',
    '',
    '[Service]',
    'Type=simple',
    ...(target.user ? [`User=${target.user}`] : []),
    // Not quoted (systemd takes the rest of the line as the path), but `%` would be a specifier.
    `WorkingDirectory=${escapeSpecifiers(target.remote_dir)}`,
    `ExecStart=${systemdQuote(`${target.remote_dir}/${target.binary}`)}`,
    ...Object.entries(target.env).map(([key, value]) => `Environment=${systemdQuote(`${key}=${value}`)}`),
    'Restart=on-failure',
    'RestartSec=2',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ];
  return lines.join('\n');
}
