import { createHmac, timingSafeEqual } from 'node:crypto';
import { childEnvironment } from '../support/config.ts';
import { execFile } from 'node:child_process';
import type { IncomingHttpHeaders } from 'node:http';
import * as v from 'valibot';

/** A request the webhook refuses: 400 (not a push we can read) or 401 (bad signature). */
export class WebhookError extends Error {
  override name = 'WebhookError';
  constructor(readonly status: 400 | 401, message: string) {
    super(message);
  }
}

/**
 * Where the HMAC may arrive, in the order we look. Gitea and Forgejo send several of these with the
 * same value; the first one present decides, so a bad signature can't be outvoted by a second header.
 */
const SIGNATURE_HEADERS: readonly { name: string; prefix: string }[] = [
  { name: 'x-gitea-signature', prefix: '' },
  { name: 'x-forgejo-signature', prefix: '' },
  { name: 'x-gogs-signature', prefix: '' },
  { name: 'x-hub-signature-256', prefix: 'sha256=' },
];

const EVENT_HEADERS = ['x-gitea-event', 'x-forgejo-event', 'x-gogs-event', 'x-github-event'] as const;

/** Gitea sends lowercase hex; Buffer.from(…, 'hex') would silently drop anything else, so check first. */
const HMAC_HEX = /^[0-9a-f]{64}$/;

/** A git object id: SHA-1 (40) or SHA-256 (64) repositories. */
const COMMIT_ID = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/i;

const ZERO_ID = /^0+$/;

function firstHeader(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function isZeroCommit(id: string): boolean {
  return ZERO_ID.test(id);
}

/** HMAC-SHA256 (hex) of the raw body, constant-time compared with the first signature header present. */
export function verifySignature(rawBody: Buffer, headers: IncomingHttpHeaders, secret: string): boolean {
  // An empty secret is one anybody can sign with: treat it as no way to verify at all.
  if (secret === '') return false;
  const header = SIGNATURE_HEADERS.find(({ name }) => firstHeader(headers, name) !== undefined);
  if (!header) return false;
  const value = firstHeader(headers, header.name)!;
  if (!value.startsWith(header.prefix)) return false;
  const hex = value.slice(header.prefix.length);
  if (!HMAC_HEX.test(hex)) return false;
  const expected = createHmac('sha256', secret).update(rawBody).digest();
  const given = Buffer.from(hex, 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** The event name from X-Gitea-Event / X-Forgejo-Event / X-Gogs-Event / X-GitHub-Event, or undefined. */
export function eventName(headers: IncomingHttpHeaders): string | undefined {
  for (const name of EVENT_HEADERS) {
    const value = firstHeader(headers, name);
    if (value) return value;
  }
  return undefined;
}

export interface PushPayload {
  ref: string;
  before: string;
  after: string;
  total_commits: number;
  commits: { id: string; added: string[]; removed: string[]; modified: string[] }[];
  repository: { name: string; full_name: string };
}

/** Gitea's "Test Delivery" sends null file lists; a Go nil slice is null too, so null means empty. */
function fileList() {
  return v.nullish(v.array(v.string('must be a list of file names'), 'must be a list of file names'), () => []);
}

/** Only the fields we use; v.object drops the many others Gitea sends instead of rejecting them. */
const PushPayloadSchema = v.object(
  {
    ref: v.pipe(v.string('must be a string'), v.nonEmpty('must not be empty')),
    before: v.string('must be a string'),
    after: v.string('must be a string'),
    total_commits: v.pipe(
      v.number('must be a number'),
      v.integer('must be a whole number'),
      v.minValue(0, 'must not be negative'),
    ),
    commits: v.nullish(
      v.array(
        v.object(
          { id: v.string('must be a string'), added: fileList(), removed: fileList(), modified: fileList() },
          'must be an object',
        ),
        'must be a list',
      ),
      () => [],
    ),
    repository: v.object(
      { name: v.string('must be a string'), full_name: v.string('must be a string') },
      'must be an object',
    ),
  },
  'must be a JSON object',
);

/** "commits[0].added" from a valibot issue path. */
function formatPath(path: readonly { key: unknown }[]): string {
  return path
    .map(({ key }, index) => (typeof key === 'number' ? `[${key}]` : index === 0 ? String(key) : `.${String(key)}`))
    .join('');
}

function describePayloadIssue(issue: v.BaseIssue<unknown>): string {
  const path = issue.path ?? [];
  if (path.length === 0) return 'expected a JSON object';
  const where = formatPath(path);
  return issue.input === undefined ? `${where} is required` : `${where} ${issue.message}`;
}

/** Parses and validates the fields of a push payload we use; throws WebhookError(400) naming the problem. */
export function parsePushPayload(raw: Buffer): PushPayload {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (error) {
    throw new WebhookError(400, `invalid JSON: ${(error as Error).message}`);
  }
  // v.object takes an array for an object; a JSON array is no payload of any kind.
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new WebhookError(400, 'not a push payload: expected a JSON object');
  }
  const result = v.safeParse(PushPayloadSchema, json);
  if (!result.success) throw new WebhookError(400, `not a push payload: ${describePayloadIssue(result.issues[0])}`);
  return result.output;
}

export type PushDecision =
  | { action: 'ignore'; reason: string }
  | { action: 'deploy'; branch: string; truncated: boolean };

const BRANCH_PREFIX = 'refs/heads/';

/** What to do with a push: the SPEC §5 cases that deploy nothing come first, in a fixed order. */
export function decidePush(payload: PushPayload): PushDecision {
  const { ref, before, after } = payload;
  if (before === after) {
    return { action: 'ignore', reason: `test delivery on ${ref} (before and after are the same commit): nothing to deploy` };
  }
  if (ref.startsWith('refs/tags/')) return { action: 'ignore', reason: `tag push ${ref}: tags do not deploy` };
  if (isZeroCommit(after)) return { action: 'ignore', reason: `branch deleted: ${ref}, nothing to deploy` };
  if (!ref.startsWith(BRANCH_PREFIX) || ref.length === BRANCH_PREFIX.length) {
    return { action: 'ignore', reason: `${ref} is not a branch: nothing to deploy` };
  }
  // Gitea lists only the newest commits, and a new branch's list says nothing about what it brings in.
  const truncated = payload.total_commits > payload.commits.length || isZeroCommit(before);
  return { action: 'deploy', branch: ref.slice(BRANCH_PREFIX.length), truncated };
}

/** Union of added/removed/modified of the listed commits, de-duplicated, in first-seen order. */
export function listedFiles(payload: PushPayload): string[] {
  const files = new Set<string>();
  for (const commit of payload.commits) {
    for (const file of [...commit.added, ...commit.removed, ...commit.modified]) files.add(file);
  }
  return [...files];
}

const DEFAULT_GIT_TIMEOUT_MS = 20_000;

/** Enough for the file list of any real push; execFile's 1 MiB default is not. */
const GIT_MAX_BUFFER = 64 * 1024 * 1024;

function gitEnvironment(): NodeJS.ProcessEnv {
  // A GIT_DIR inherited from the server's environment would point git at another repository than the
  // registry root; and git must never wait for a password nobody will type.
  const { GIT_DIR, GIT_WORK_TREE, GIT_INDEX_FILE, ...env } = childEnvironment();
  return { ...env, GIT_TERMINAL_PROMPT: '0' };
}

function firstLine(text: string): string {
  return text.split('\n').map((line) => line.trim()).find(Boolean) ?? '';
}

function execGit(cwd: string, args: readonly string[], signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'git',
      args,
      { cwd, signal, env: gitEnvironment(), encoding: 'utf8', maxBuffer: GIT_MAX_BUFFER },
      (error, stdout, stderr) => (error ? reject(Object.assign(error, { stderr })) : resolve(stdout)),
    );
  });
}

/** Runs one git command (argv, no shell) within timeoutMs, turning its failure into a readable Error. */
async function runGit(cwd: string, args: readonly string[], timeoutMs: number, signal?: AbortSignal): Promise<string> {
  const command = `git ${args.join(' ')}`;
  signal?.throwIfAborted();
  if (timeoutMs <= 0) throw new Error(`${command} timed out`);
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    return await execGit(cwd, args, signal ? AbortSignal.any([signal, timeout]) : timeout);
  } catch (error) {
    if (signal?.aborted) throw signal.reason;
    if (timeout.aborted) throw new Error(`${command} timed out after ${timeoutMs} ms in ${cwd}`);
    const failure = error as NodeJS.ErrnoException & { stderr?: string };
    // spawn reports a missing git and a missing cwd alike.
    if (failure.code === 'ENOENT' && !failure.stderr) {
      throw new Error(`cannot run git in ${cwd} (is git installed, does the directory exist?): ${failure.message}`);
    }
    throw new Error(`${command} failed in ${cwd}: ${firstLine(failure.stderr ?? '') || failure.message}`);
  }
}

function splitNul(output: string): string[] {
  return output.split('\0').filter(Boolean);
}

function assertCommitId(field: string, id: string): void {
  if (!COMMIT_ID.test(id)) throw new WebhookError(400, `${field} is not a commit id (40 or 64 hex characters): ${JSON.stringify(id)}`);
}

/**
 * The changed files of a push, from git in the registry root, for when Gitea's lists are incomplete.
 * The fetch gets at most half of the time: when the remote hangs, the commits may already be here.
 */
export async function changedFilesFromGit(
  registryRoot: string,
  before: string,
  after: string,
  options: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<string[]> {
  assertCommitId('before', before);
  assertCommitId('after', after);
  if (isZeroCommit(after)) throw new WebhookError(400, 'after is the zero commit (a deletion): there are no files to list');
  const timeoutMs = options.timeoutMs ?? DEFAULT_GIT_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  try {
    await runGit(registryRoot, ['fetch', '--quiet', 'origin'], Math.ceil(timeoutMs / 2), options.signal);
  } catch (error) {
    // No origin remote, or offline: the diff below says whether the commits are here anyway.
    if (options.signal?.aborted) throw error;
  }
  // diff-tree, not diff: outside a repository `git diff` silently compares files on disk, and it
  // follows diff.renames, which would list only the new side of a move between apps. -z: paths
  // exactly as stored, never C-quoted; "--" keeps the ids from being read as paths.
  const args = isZeroCommit(before)
    ? ['ls-tree', '-r', '-z', '--name-only', after, '--']
    : ['diff-tree', '-r', '--no-renames', '--name-only', '-z', before, after, '--'];
  return splitNul(await runGit(registryRoot, args, deadline - Date.now(), options.signal));
}

/** `apps/<name>/…` with something after the slash. */
const APP_PATH = /^apps\/([^/]+)\/./;

/** App names of paths `apps/<name>/…`, de-duplicated, sorted. */
export function appsTouched(files: string[]): string[] {
  const apps = new Set<string>();
  for (const file of files) {
    const name = APP_PATH.exec(file)?.[1];
    if (name && name !== '.' && name !== '..') apps.add(name);
  }
  return [...apps].sort();
}

function describeApps(apps: readonly string[]): string {
  return apps.length === 1 ? `app ${apps[0]} has` : `apps ${apps.join(', ')} have`;
}

/** Why a push selected no target, in one line. */
function explainNoMatch(byPath: boolean, apps: readonly string[], anyTarget: boolean, branch: string): string {
  if (byPath) {
    return anyTarget
      ? `${describeApps(apps)} no target deploying from branch "${branch}"`
      : `${describeApps(apps)} no target (changed under apps/)`;
  }
  return anyTarget
    ? `no changed path under apps/ and app "${apps[0]}" has no target deploying from branch "${branch}"`
    : `no changed path under apps/ and no target for app "${apps[0]}"`;
}

/**
 * Which targets a push deploys (SPEC §5): the apps touched under apps/, or, only when no path is
 * under apps/, the app named like the repository; then only the targets deploying from the branch.
 */
export function matchPushToTargets(
  targets: readonly { app: string; host: string; branch: string }[],
  push: { files: string[]; repositoryName: string; branch: string },
): { targets: { app: string; host: string }[]; reason?: string } {
  const touched = appsTouched(push.files);
  const byPath = touched.length > 0;
  const apps = byPath ? touched : [push.repositoryName];
  const ofApps = targets.filter((target) => apps.includes(target.app));
  const selected = ofApps.filter((target) => target.branch === push.branch).map(({ app, host }) => ({ app, host }));
  if (selected.length > 0) return { targets: selected };
  return { targets: [], reason: explainNoMatch(byPath, apps, ofApps.length > 0, push.branch) };
}
