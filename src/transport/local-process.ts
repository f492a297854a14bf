import { execFile, spawn } from 'node:child_process';
import type { ExecResult } from './remote-host.ts';
import { childEnvironment } from '../support/config.ts';
import { appendTail } from './output-tail.ts';

export interface LocalRunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onOutput?: (chunk: string) => void;
}

/**
 * Runs a local program (argv, no shell) in its own process group, streaming its output. Abort kills
 * the whole group, so a build's children die with it.
 */
export function runLocal(argv: readonly string[], options: LocalRunOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    if (options.signal?.aborted) return reject(options.signal.reason);
    const child = spawn(argv[0], argv.slice(1), {
      cwd: options.cwd,
      env: options.env ?? childEnvironment(),
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout = appendTail(stdout, chunk);
      options.onOutput?.(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = appendTail(stderr, chunk);
      options.onOutput?.(chunk);
    });
    const kill = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
    };
    options.signal?.addEventListener('abort', kill, { once: true });
    child.once('error', (error) => {
      options.signal?.removeEventListener('abort', kill);
      reject(new Error(`cannot run ${argv[0]}: ${error.message}`));
    });
    child.once('close', (code, signal) => {
      options.signal?.removeEventListener('abort', kill);
      if (options.signal?.aborted) return reject(options.signal.reason);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
  });
}

/** The last few non-empty lines of a command's stderr (or stdout), for an error message. */
export function lastLines(text: string, count = 5): string {
  return text.split('\n').map((line) => line.trimEnd()).filter(Boolean).slice(-count).join(' | ');
}

/** Enough for the file list of any real push; execFile's 1 MiB default is not. */
const READ_MAX_BUFFER = 64 * 1024 * 1024;

function firstLine(text: string): string {
  return text.split('\n').map((line) => line.trim()).find(Boolean) ?? '';
}

/**
 * Runs a local program (argv, no shell) for its whole standard output, within `timeoutMs`: a failure
 * is an Error naming the command, the directory and the first line of its stderr. Its environment is
 * childEnvironment(), as for runLocal.
 */
export async function readLocal(argv: readonly string[], options: { cwd: string; timeoutMs: number; signal?: AbortSignal }): Promise<string> {
  const { cwd, timeoutMs, signal } = options;
  const command = argv.join(' ');
  signal?.throwIfAborted();
  if (timeoutMs <= 0) throw new Error(`${command} timed out`);
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    return await new Promise<string>((resolve, reject) => {
      execFile(
        argv[0],
        argv.slice(1),
        { cwd, signal: signal ? AbortSignal.any([signal, timeout]) : timeout, env: childEnvironment(), encoding: 'utf8', maxBuffer: READ_MAX_BUFFER },
        (error, stdout, stderr) => (error ? reject(Object.assign(error, { stderr })) : resolve(stdout)),
      );
    });
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (timeout.aborted) throw new Error(`${command} timed out after ${timeoutMs} ms in ${cwd}`);
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    // spawn reports a missing program and a missing cwd alike.
    if (failure.code === 'ENOENT' && !failure.stderr) {
      throw new Error(`cannot run ${argv[0]} in ${cwd} (is it installed, does the directory exist?): ${failure.message}`);
    }
    throw new Error(`${command} failed in ${cwd}: ${firstLine(failure.stderr ?? '') || failure.message}`);
  }
}
