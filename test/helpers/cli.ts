import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { once } from 'node:events';

const ROOT = new URL('../../', import.meta.url).pathname;

/**
 * The `deploy_server` executable users run: the build (`npm run build`, which `npm test` and `npm ci`
 * run). A build older than any source would test old code, so running it refuses instead (checked
 * when a test first runs the executable, not when a test merely imports these helpers).
 */
export const BIN = path.join(ROOT, 'dist/deploy_server.js');
let checked = false;

export function builtBin(): string {
  if (!checked) checkBuild(BIN);
  checked = true;
  return BIN;
}

function checkBuild(bin: string): string {
  const built = statSync(bin, { throwIfNoEntry: false })?.mtimeMs;
  if (built === undefined) throw new Error(`${bin} is missing: run \`npm run build\` (npm test does)`);
  const newest = (dir: string): number =>
    Math.max(0, ...readdirSync(dir, { withFileTypes: true }).map((entry) => {
      const full = path.join(dir, entry.name);
      return entry.isDirectory() ? newest(full) : statSync(full).mtimeMs;
    }));
  const stale = ['src', 'pipelines', 'otel', 'scripts'].some((dir) => newest(path.join(ROOT, dir)) > built);
  if (stale) throw new Error(`${bin} is older than the sources: run \`npm run build\` (npm test does)`);
  return bin;
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** No single CLI call or serve start-up in the tests may take longer than this (a hang fails, not holds CI). */
export const CHILD_TIMEOUT_MS = 120_000;

/** Runs the real `deploy_server` executable as a child process (killed after CHILD_TIMEOUT_MS). */
export function runBin(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [builtBin(), ...args], { env: { ...process.env, ...env }, timeout: CHILD_TIMEOUT_MS, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** A fresh directory per test, removed afterwards. */
export function makeTempDir(t: { after: (fn: () => void) => void }, prefix = 'deploy-server-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Starts `deploy_server serve --port 0` and resolves with its base URL once it listens (or kills it and rejects after CHILD_TIMEOUT_MS). */
export async function startServe(env: NodeJS.ProcessEnv, extraArgs: string[] = []): Promise<{ url: string; child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [builtBin(), 'serve', '--port', '0', '--bind', '127.0.0.1', ...extraArgs], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr!.on('data', (chunk) => (output += chunk));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(output);
      if (match) resolve(match[1]);
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${output}`)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not listen within ${CHILD_TIMEOUT_MS} ms: ${output}`));
    }, CHILD_TIMEOUT_MS);
    child.once('exit', () => clearTimeout(timer));
    child.stdout!.on('data', () => /listening on/.test(output) && clearTimeout(timer));
  });
  return { url, child, output: () => output };
}

/** Stops a child; one that ignores `signal` for CHILD_TIMEOUT_MS is killed. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode; // gone already (a signal leaves exitCode null)
  const exited = once(child, 'exit');
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
  const [code] = await exited;
  clearTimeout(timer);
  return code as number | null;
}

/** Runs a command line in this process (same code path as the executable, minus the process start-up). */
export async function runCliInProcess(args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  const { runCli } = await import('../../src/cli/main.ts');
  const { PassThrough } = await import('node:stream');
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk) => (out += chunk));
  stderr.on('data', (chunk) => (err += chunk));
  const code = await runCli(args, { stdin: process.stdin, stdout, stderr, env: { ...process.env, ...env }, cwd: process.cwd(), colorDepth: 1 });
  return { code, stdout: out, stderr: err };
}
