/**
 * A command line for the remote shell, built apart from running it (only the SSH transport runs commands).
 * `display` is what logs and spans show; `stdin` carries data that must not be on a command line
 * (a unit file with env values, say).
 */
export interface ShellCommand {
  /** What it is, without its arguments (`git pull`, `systemctl restart`): a span's name, never a secret. */
  name: string;
  command: string;
  display?: string;
  stdin?: string;
}

/** Several commands in one remote session, each only if the one before succeeded. */
export function allOf(...commands: ShellCommand[]): ShellCommand {
  return { name: commands.map((c) => c.name).join(' && '), command: commands.map((c) => c.command).join(' && ') };
}
