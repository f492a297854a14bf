// A session channel opened ahead of the command it will run: the channel is opened and its shell
// started (2 round trips) while the previous step runs, then the command is written to the shell's
// stdin, so a step pays one round trip on top of its own work. Each command still has a channel of
// its own: its exit status, its output, its process group to kill.
import type { Client, ClientChannel } from 'ssh2';
import { appendTail } from '../output-tail.ts';

/**
 * The shell a prepared channel runs: prints its pid (the command's process group, sshd setsid()s)
 * on stderr, reads the command's lines up to `endMarker` (the `read` builtin takes one byte at a
 * time from a pipe, so what follows stays for the command as its stdin), then evaluates it. EOF
 * before the end marker — the channel closed unused — exits without running anything.
 */
export function preparedShellScript(pgidMarker: string, endMarker: string): string {
  return [
    `echo ${pgidMarker}$$ >&2`,
    '__deploy_command=',
    `while :; do IFS= read -r __deploy_line || exit 0; [ "$__deploy_line" = ${endMarker} ] && break; __deploy_command="$__deploy_command$__deploy_line\n"; done`,
    'unset __deploy_line',
    'eval "$__deploy_command"',
  ].join('; ');
}

export interface ShellRunResult {
  /** null when the channel closed without an exit status (the connection dropped, a signal). */
  code: number | null;
  /** The end of each stream (KEPT_OUTPUT_CHARS): the whole output went to onOutput as it came. */
  stdout: string;
  stderr: string;
}

/** A channel whose shell is waiting for its one command. */
export class PreparedShell {
  private onStdout: (text: string) => void;
  private onStderr: (text: string) => void;
  private readonly early: string[] = [];

  private constructor(
    private readonly channel: ClientChannel,
    /** The shell's pid: `kill -- -<pgid>` ends the command and its children. */
    readonly pgid: string,
    /** What the login shell printed before our marker (a .bashrc line): belongs to the command's output. */
    private readonly preamble: string,
    private readonly endMarker: string,
  ) {
    // Until run() takes over, anything that arrives is kept for it.
    this.onStdout = (text) => this.early.push(text);
    this.onStderr = (text) => this.early.push(text);
    channel.on('data', (chunk: Buffer) => this.onStdout(chunk.toString()));
    channel.stderr.on('data', (chunk: Buffer) => this.onStderr(chunk.toString()));
  }

  /** Opens a session channel and starts the shell; resolves once it has said its pid. */
  static open(client: Client, pgidMarker: string, endMarker: string): Promise<PreparedShell> {
    return new Promise((resolve, reject) => {
      client.exec(preparedShellScript(pgidMarker, endMarker), (error, channel) => {
        if (error) return reject(error);
        let head = '';
        const marker = new RegExp(`^${pgidMarker}(\\d+)\\n`, 'm');
        const onHead = (chunk: Buffer) => {
          head += chunk.toString();
          const match = marker.exec(head);
          if (!match) return;
          channel.stderr.removeListener('data', onHead);
          channel.removeListener('close', onEarlyClose);
          const shell = new PreparedShell(channel, match[1], head.slice(0, match.index), endMarker);
          const rest = head.slice(match.index + match[0].length);
          if (rest) shell.early.push(rest);
          resolve(shell);
        };
        // A login shell that refuses (nologin) says why on stderr: that is the error.
        const onEarlyClose = () => reject(new Error(`the remote shell did not start${head.trim() ? `: ${head.trim().split('\n')[0]}` : ''}`));
        channel.stderr.on('data', onHead);
        channel.once('close', onEarlyClose);
      });
    });
  }

  /**
   * Runs the command (its stdin after it), streaming output; resolves when the channel closes. Only
   * the end of each stream is kept for the result, so a build printing gigabytes costs no memory here.
   */
  run(command: string, stdin: string | undefined, onOutput: (text: string) => void): Promise<ShellRunResult> {
    const { channel } = this;
    return new Promise((resolve) => {
      let stdout = '';
      let stderr = appendTail('', this.preamble);
      if (this.preamble) onOutput(this.preamble);
      for (const text of this.early.splice(0)) {
        stderr = appendTail(stderr, text);
        onOutput(text);
      }
      this.onStdout = (text) => {
        stdout = appendTail(stdout, text);
        onOutput(text);
      };
      this.onStderr = (text) => {
        stderr = appendTail(stderr, text);
        onOutput(text);
      };
      let code: number | null = null;
      channel.on('exit', (exitCode: number | null) => (code = exitCode ?? null));
      channel.once('close', () => resolve({ code, stdout, stderr }));
      channel.write(`${command}\n${this.endMarker}\n`);
      if (stdin !== undefined) channel.write(stdin);
      channel.end();
    });
  }

  /** Closes the channel unused: the shell reads EOF and exits without running anything. */
  discard(): void {
    this.channel.end();
  }
}
