// Which commits a local repository has, asked of one long-lived `git cat-file --batch-check` instead
// of a process per question: with a server's heap, starting a process costs ~10 ms of the event loop
// (fork), which a burst of webhooks would pay once per batch.
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { childEnvironment } from '../../support/config.ts';
import { isCommitId } from '../../domain/commit-id.ts';

/** `git cat-file --batch-check`: for each object name on stdin, "<id> <type> <size>" or "<id> missing". */
export function gitBatchCheck(): string[] {
  return ['git', 'cat-file', '--batch-check'];
}

export interface CommitChecker {
  /** Of these full commit ids, the ones the repository has as commits (lowercase); empty when git cannot tell in time. */
  has(ids: readonly string[]): Promise<Set<string>>;
  /** Ends the git process (it also ends by itself when this process exits: its stdin closes). */
  close(): void;
}

interface Running {
  git: ChildProcessByStdio<Writable, Readable, null>;
  /** Answer lines read and not yet taken. */
  lines: string[];
  gone: boolean;
  /** Called when lines arrive or git ends. */
  wake?: () => void;
}

function startGit(repository: string): Running {
  const argv = gitBatchCheck();
  const git = spawn(argv[0], argv.slice(1), { cwd: repository, env: childEnvironment(), stdio: ['pipe', 'pipe', 'ignore'] });
  const running: Running = { git, lines: [], gone: false };
  let partial = '';
  git.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop()!;
    running.lines.push(...parts);
    running.wake?.();
  });
  git.once('error', () => undefined); // no git at all: 'close' follows
  git.once('close', () => {
    running.gone = true;
    running.wake?.();
  });
  git.stdin.on('error', () => undefined); // it ended while we wrote: 'close' follows
  // Never what keeps this process alive.
  git.unref();
  for (const stream of [git.stdin, git.stdout]) (stream as unknown as { unref?: () => void }).unref?.();
  return running;
}

/** Waits until `running` has `count` answer lines, or is gone, or the deadline passes. */
async function readAnswer(running: Running, count: number, deadline: number): Promise<string[] | null> {
  while (running.lines.length < count && !running.gone && Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, deadline - Date.now());
      running.wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    running.wake = undefined;
  }
  return running.lines.length >= count ? running.lines.splice(0, count) : null;
}

export function createCommitChecker(repository: string, timeoutMs: number): CommitChecker {
  let running: Running | undefined;
  let queue = Promise.resolve();

  const ask = async (ids: string[]): Promise<Set<string>> => {
    if (!running || running.gone) running = startGit(repository);
    const current = running;
    current.git.stdin.write(ids.map((id) => `${id}\n`).join(''));
    const answer = await readAnswer(current, ids.length, Date.now() + timeoutMs);
    if (!answer) {
      // Gone or too slow: "cannot tell", and the next question starts a new git.
      current.git.kill();
      if (running === current) running = undefined;
      return new Set();
    }
    return new Set(answer.flatMap((line) => {
      const [id, type] = line.split(' ');
      return type === 'commit' ? [id.toLowerCase()] : [];
    }));
  };

  return {
    has(ids) {
      // Only full hex ids: anything else (a newline in it) would desynchronise git's answers from the questions.
      ids = ids.filter(isCommitId);
      if (ids.length === 0) return Promise.resolve(new Set());
      // One question at a time: git answers in order, and each question takes its own lines.
      const answer = queue.then(() => ask([...ids])).catch(() => new Set<string>());
      queue = answer.then(() => undefined);
      return answer;
    },
    close() {
      running?.git.kill();
      running = undefined;
    },
  };
}
