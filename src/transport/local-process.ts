import { spawn } from 'node:child_process';
import type { ExecResult } from './remote-host.ts';
import { childEnvironment } from '../support/config.ts';

export interface LocalRunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onOutput?: (chunk: string) => void;
}

/** Keeps the end of a stream: enough for an error message, never the whole build log. */
const KEEP = 16 * 1024;

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
      stdout = (stdout + chunk).slice(-KEEP);
      options.onOutput?.(chunk);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr = (stderr + chunk).slice(-KEEP);
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
