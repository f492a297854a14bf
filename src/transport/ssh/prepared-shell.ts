// A session channel opened ahead of the command it will run: the channel is opened and its shell
// started (2 round trips) while the previous step runs, then the command is written to the shell's
// stdin, so a step pays one round trip on top of its own work. Each command still has a channel of
// its own: its exit status, its output, its process group to kill. A command with no shell started
// for it (the connection's first, right after connecting) goes in its channel's exec request, as
// `ssh host command` sends it: two round trips, where opening a shell then writing to it takes three.
import type { Client, ClientChannel } from 'ssh2';
import { appendTail } from '../output-tail.ts';
import { shellQuote } from '../shell.ts';

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

/**
 * The shell of a command sent with its channel's exec request: says its pid as a prepared shell does,
 * then evaluates the command (quoted: the same text a prepared shell reads from its stdin). Its stdin
 * is the command's.
 */
export function commandShellScript(pgidMarker: string, command: string): string {
  return `echo ${pgidMarker}$$ >&2; eval ${shellQuote(command)}`;
}

/**
 * The longest script (commandShellScript, in bytes: quoting makes each `'` four) sent in an exec
 * request: sshd runs it as one argument of `sh -c`, which Linux limits to 128 KiB (MAX_ARG_STRLEN); a
 * longer command waits for a prepared shell, which reads it from stdin.
 */
export const MAX_EXEC_SCRIPT_BYTES = 64 * 1024;

export interface ShellRunResult {
  /** null when the channel closed without an exit status (the connection dropped, a signal). */
  code: number | null;
  /** The end of each stream (KEPT_OUTPUT_CHARS): the whole output went to onOutput as it came. */
  stdout: string;
  stderr: string;
}

/** A channel whose shell is waiting for its one command (open), or already running it (startWith). */
export class PreparedShell {
  private onStdout: (text: string) => void;
  private onStderr: (text: string) => void;
  /** Output that came before run() took over, in order. */
  private readonly early: { stderr: boolean; text: string }[] = [];
  /**
   * The shell's pid once it has said it: `kill -- -<pgid>` ends the command and its children. Rejects
   * when the channel closes first: the shell did not start (a nologin shell says why on stderr).
   */
  readonly pgid: Promise<string>;
  /** The exit status, once sshd has sent it (null: none, as when a signal ended the shell). */
  private code: number | null = null;
  /**
   * Resolves when the channel closes. Listened to from the start: a command sent with its exec
   * request can be over (its status, EOF and close in the same read as the exec's reply) before run().
   */
  private readonly closed: Promise<void>;

  private constructor(
    private readonly channel: ClientChannel,
    pgidMarker: string,
    /** What ends the command's lines on stdin; undefined when the command came with the exec request. */
    private readonly endMarker: string | undefined,
  ) {
    // Until run() takes over, anything that arrives is kept for it.
    this.onStdout = (text) => this.early.push({ stderr: false, text });
    this.onStderr = (text) => this.early.push({ stderr: true, text });
    this.pgid = new Promise((resolve, reject) => {
      let head = '';
      // Not anchored to a line: a login shell's stderr may end without a newline before the marker.
      const marker = new RegExp(`${pgidMarker}(\\d+)\\n`);
      const onHead = (chunk: Buffer) => {
        head += chunk.toString();
        const match = marker.exec(head);
        if (!match) return;
        channel.stderr.removeListener('data', onHead);
        channel.removeListener('close', onEarlyClose);
        channel.stderr.on('data', (data: Buffer) => this.onStderr(data.toString()));
        // What the login shell printed before our marker (a .bashrc line) belongs to the command's output.
        const rest = head.slice(0, match.index) + head.slice(match.index + match[0].length);
        if (rest) this.onStderr(rest);
        resolve(match[1]);
      };
      const onEarlyClose = () => reject(new Error(`the remote shell did not start${head.trim() ? `: ${head.trim().split('\n')[0]}` : ''}`));
      channel.stderr.on('data', onHead);
      channel.once('close', onEarlyClose);
    });
    this.pgid.catch(() => undefined); // a shell nobody takes may fail unobserved
    channel.on('data', (chunk: Buffer) => this.onStdout(chunk.toString()));
    channel.on('exit', (code: number | null) => (this.code = code ?? null));
    this.closed = new Promise((resolve) => channel.once('close', resolve));
  }

  /** Opens a session channel and starts the shell; resolves once it has said its pid. */
  static open(client: Client, pgidMarker: string, endMarker: string): Promise<PreparedShell> {
    return new Promise((resolve, reject) => {
      client.exec(preparedShellScript(pgidMarker, endMarker), (error, channel) => {
        if (error) return reject(error);
        const shell = new PreparedShell(channel, pgidMarker, endMarker);
        shell.pgid.then(() => resolve(shell), reject);
      });
    });
  }

  /**
   * Opens a session channel whose exec request carries `command` (commandShellScript); resolves once
   * sshd has started it: the command is running, its pgid follows. run() then gives it its stdin and
   * collects its output. Undefined, and nothing opened, when the script is over MAX_EXEC_SCRIPT_BYTES.
   */
  static startWith(client: Client, pgidMarker: string, command: string): Promise<PreparedShell> | undefined {
    const script = commandShellScript(pgidMarker, command);
    if (Buffer.byteLength(script) > MAX_EXEC_SCRIPT_BYTES) return undefined;
    return new Promise((resolve, reject) => {
      client.exec(script, (error, channel) => {
        if (error) reject(error);
        else resolve(new PreparedShell(channel, pgidMarker, undefined));
      });
    });
  }

  /** The command is running already (startWith): a cancel must kill it, not only close the channel. */
  get commandRunning(): boolean {
    return this.endMarker === undefined;
  }

  /**
   * Runs the command (its stdin after it), streaming output; resolves when the channel closes, rejects
   * when it closed before the shell started. A shell from startWith runs the command it was started
   * with (`command` is that one). Only the end of each stream is kept for the result, so a build
   * printing gigabytes costs no memory here.
   */
  run(command: string, stdin: string | undefined, onOutput: (text: string) => void): Promise<ShellRunResult> {
    const { channel } = this;
    return new Promise((resolve, reject) => {
      let stdout = '';
      let stderr = '';
      for (const { stderr: isStderr, text } of this.early.splice(0)) {
        if (isStderr) stderr = appendTail(stderr, text);
        else stdout = appendTail(stdout, text);
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
      void this.closed.then(() => this.pgid).then(() => resolve({ code: this.code, stdout, stderr }), reject);
      // Closed already (a command sent with its exec request and over, or a shell that did not start): nothing to write to.
      if (!channel.writable) return;
      if (this.endMarker !== undefined) channel.write(`${command}\n${this.endMarker}\n`);
      if (stdin !== undefined) channel.write(stdin);
      channel.end();
    });
  }

  /** Closes the channel: a prepared shell reads EOF and exits without running anything. */
  discard(): void {
    this.channel.end();
  }
}
