// A Gitea push payload: the fields we use, validated, and what a push asks for (SPEC §5).
import * as v from 'valibot';
import { COMMIT_ID, isZeroCommit } from './commit-id.ts';

/** A body that is not a push we can read (the webhook answers 400). */
export class InvalidPushError extends Error {
  override name = 'InvalidPushError';
}

/**
 * What a push says, as far as its sender says it. Senders differ by version (see
 * test/fixtures/gitea-versions/SOURCES.md): Gogs and Gitea before 1.17.3 send no `total_commits`,
 * Gitea before ~1.5 no file lists, old Gogs no `repository.full_name`. What is absent is unknown
 * (`null`), never a guess: an unknown count or file list sends the push through git (changed-files.ts).
 */
export interface PushPayload {
  ref: string;
  before: string;
  after: string;
  /** null: the sender does not say (so the listed commits may be only the newest few). */
  total_commits: number | null;
  /** null: the sender does not list files for this commit. */
  commits: { id: string; added: string[] | null; removed: string[] | null; modified: string[] | null }[];
  /** `owner/name`: the sender's full_name, else built from the owner's login (or Gogs' username). */
  repository: { name: string; full_name: string };
}

function fileList() {
  return v.optional(v.nullable(v.array(v.string('must be a list of file names'), 'must be a list of file names')));
}

/**
 * A commit's file list: absent means the sender does not list files (unknown, null); a JSON null is
 * a Go nil slice, which Gitea sends for an empty list (and in its "Test Delivery"), so it means empty.
 */
const knownFiles = (files: string[] | null | undefined): string[] | null => (files === undefined ? null : files ?? []);

/** What the database keeps of a ref or a repository's name (a column of 255 characters on PostgreSQL). */
const NAME_MAX = 255;

/** `before`/`after`: a full commit id (all zeros for a created or deleted branch). */
const commitId = () => v.pipe(v.string('must be a string'), v.regex(COMMIT_ID, 'must be a full commit id (40 or 64 hex digits)'));

const OwnerSchema = v.object({ login: v.optional(v.string()), username: v.optional(v.string()) });

/** Only the fields we use; v.object drops the many others Gitea sends instead of rejecting them. */
const PushPayloadSchema = v.object(
  {
    ref: v.pipe(v.string('must be a string'), v.nonEmpty('must not be empty'), v.maxLength(NAME_MAX, `must be at most ${NAME_MAX} characters`)),
    before: commitId(),
    after: commitId(),
    total_commits: v.nullish(
      v.pipe(v.number('must be a number'), v.integer('must be a whole number'), v.minValue(0, 'must not be negative')),
      null,
    ),
    commits: v.nullish(
      v.array(
        v.pipe(
          v.object(
            { id: v.string('must be a string'), added: fileList(), removed: fileList(), modified: fileList() },
            'must be an object',
          ),
          v.transform((c) => ({ id: c.id, added: knownFiles(c.added), removed: knownFiles(c.removed), modified: knownFiles(c.modified) })),
        ),
        'must be a list',
      ),
      () => [],
    ),
    repository: v.pipe(
      v.object(
        {
          name: v.pipe(v.string('must be a string'), v.nonEmpty('must not be empty'), v.maxLength(NAME_MAX, `must be at most ${NAME_MAX} characters`)),
          full_name: v.nullish(v.pipe(v.string('must be a string'), v.maxLength(NAME_MAX, `must be at most ${NAME_MAX} characters`))),
          owner: v.nullish(v.unknown()),
        },
        'must be an object',
      ),
      v.transform(({ name, full_name, owner }) => ({ name, full_name: full_name || fullNameFromOwner(name, owner) })),
      v.check(({ full_name }) => full_name.length <= NAME_MAX, `full name must be at most ${NAME_MAX} characters`),
    ),
  },
  'must be a JSON object',
);

/** `owner/name` from the owner object (Gitea: login, Gogs: username); the bare name when there is none. */
function fullNameFromOwner(name: string, owner: unknown): string {
  const parsed = v.safeParse(OwnerSchema, owner);
  const login = parsed.success ? parsed.output.login || parsed.output.username : undefined;
  return login ? `${login}/${name}` : name;
}

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

/** Parses and validates the fields of a push payload we use; throws InvalidPushError naming the problem. */
export function parsePushPayload(raw: Buffer): PushPayload {
  return readPushBody(raw).payload;
}

/** parsePushPayload, and the parsed JSON for the fields read leniently elsewhere (the head commit's message). */
export function readPushBody(raw: Buffer): { payload: PushPayload; json: object } {
  let json: unknown;
  try {
    json = JSON.parse(raw.toString('utf8'));
  } catch (error) {
    throw new InvalidPushError(`invalid JSON: ${(error as Error).message}`);
  }
  // v.object takes an array for an object; a JSON array is no payload of any kind.
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new InvalidPushError('not a push payload: expected a JSON object');
  }
  const result = v.safeParse(PushPayloadSchema, json);
  if (!result.success) throw new InvalidPushError(`not a push payload: ${describePayloadIssue(result.issues[0])}`);
  return { payload: result.output, json };
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
  // Gitea lists only the newest commits (and older senders do not say how many there were), a new
  // branch's list says nothing about what it brings in, and some senders list no files at all.
  const truncated =
    payload.total_commits === null ||
    payload.total_commits > payload.commits.length ||
    isZeroCommit(before) ||
    payload.commits.some((commit) => commit.added === null || commit.removed === null || commit.modified === null);
  return { action: 'deploy', branch: ref.slice(BRANCH_PREFIX.length), truncated };
}

/** Union of added/removed/modified of the listed commits, de-duplicated, in first-seen order. */
export function listedFiles(payload: PushPayload): string[] {
  const files = new Set<string>();
  for (const commit of payload.commits) {
    for (const file of [...(commit.added ?? []), ...(commit.removed ?? []), ...(commit.modified ?? [])]) files.add(file);
  }
  return [...files];
}
