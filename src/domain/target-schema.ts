import * as v from 'valibot';
import { STRATEGIES, type Strategy } from './vocabulary.ts';

export { STRATEGIES, type Strategy };

/** Names that end up in paths, unit names and SSH aliases: no spaces, no slashes, no shell syntax. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** Newlines and other control characters: they would end a line of a unit file or a command. */
const CONTROL = /[\u0000-\u001f\u007f]/;
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** A Gitea repository: `owner/name`. */
const REPO_NAME = /^[A-Za-z0-9._-]+\/[A-Za-z0-9._-]+$/;

/**
 * `owner/name` from a git URL that names one (`https://host/owner/name.git`, `git@host:owner/name.git`,
 * `ssh://git@host:2222/owner/name`), else ''. Only the last two path segments: Gitea has no sub-groups.
 */
export function repoNameOf(url: string): string {
  const path = /^[a-z][a-z0-9+.-]*:\/\/[^/]+\/(.+)$/i.exec(url)?.[1] ?? /^[^/:@]+@[^/:]+:(.+)$/.exec(url)?.[1];
  if (!path) return '';
  const name = path.replace(/\/+$/, '').replace(/\.git$/, '').split('/').slice(-2).join('/');
  return REPO_NAME.test(name) ? name : '';
}

/** A whole number from 0 to `max`. */
function wholeNumber(field: string, max: number, note = '') {
  const range = `${field} must be between 0 and ${max}${note}`;
  return v.pipe(v.number(`${field} must be a number`), v.integer(`${field} must be a whole number`), v.minValue(0, range), v.maxValue(max, range));
}

/** A string field with no control characters (they would start a new line in a unit file). */
function text(field: string) {
  return v.pipe(v.string(`${field} must be a string`), v.check((value) => !CONTROL.test(value), `${field} must not contain newlines or control characters`));
}

function nameField(field: string) {
  return v.pipe(
    v.string(`${field} is required`),
    v.nonEmpty(`${field} is required`),
    v.regex(NAME, `${field} may only contain letters, digits, ".", "_" and "-", and must start with a letter or digit`),
  );
}

const ENV_MESSAGE = 'env must be a JSON object of string values';

function isPlainObject(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeObjectIssue(issue: v.BaseIssue<unknown>): string {
  const key = issue.path?.[0]?.key;
  if (issue.expected === 'never') return `unknown field "${String(key)}"`;
  if (key !== undefined) return `${String(key)} is required`;
  return 'a target must be a JSON object';
}

/**
 * The one schema for a deploy target, used by the CLI and the API. The defaults of SPEC §2 live here
 * and nowhere else; `remote_dir` and `binary` default from the app name once it is known.
 */
export const TargetSchema = v.pipe(
  v.strictObject({
    app: nameField('app'),
    host: nameField('host'),
    remote_dir: v.optional(
      v.pipe(text('remote_dir'), v.check((dir) => dir === '' || dir.startsWith('/'), 'remote_dir must be an absolute path')),
      '',
    ),
    binary: v.optional(
      v.pipe(v.string('binary must be a string'), v.check((name) => name === '' || NAME.test(name), 'binary may only contain letters, digits, ".", "_" and "-", and must start with a letter or digit')),
      '',
    ),
    // One line: a newline would end the unit file's or the remote command's line (chain with && or ;).
    build_cmd: v.optional(text('build_cmd'), ''),
    user: v.optional(
      v.pipe(v.string('user must be a string'), v.check((name) => name === '' || NAME.test(name), 'user may only contain letters, digits, ".", "_" and "-", and must start with a letter or digit')),
      '',
    ),
    port: v.optional(wholeNumber('port', 65535), 0),
    health: v.optional(
      v.pipe(text('health'), v.check((path) => path === '' || (path.startsWith('/') && !/\s/.test(path)), 'health must be a path starting with "/", without spaces')),
      '',
    ),
    env: v.optional(
      v.pipe(
        v.custom<object>(isPlainObject, ENV_MESSAGE),
        v.record(
          v.pipe(v.string(), v.regex(ENV_KEY, 'env names must be letters, digits and "_", not starting with a digit')),
          // The message names no value: env values are secrets.
          v.pipe(v.string(ENV_MESSAGE), v.check((value) => !CONTROL.test(value), 'env values must not contain newlines or control characters')),
        ),
      ),
      {},
    ),
    strategy: v.optional(v.picklist(STRATEGIES, `strategy must be one of ${STRATEGIES.join(', ')}`), 'systemd'),
    source_dir: v.optional(text('source_dir'), ''),
    branch: v.optional(
      v.pipe(
        text('branch'),
        v.nonEmpty('branch must not be empty'),
        v.check((branch) => !branch.startsWith('-'), 'branch must not start with "-"'),
      ),
      'main',
    ),
    compose_files: v.optional(v.array(text('compose_files'), 'compose_files must be a list of file names'), []),
    repo: v.optional(text('repo'), ''),
    repo_name: v.optional(
      v.pipe(v.string('repo_name must be a string'), v.check((name) => name === '' || REPO_NAME.test(name), 'repo_name must be "owner/name"')),
      '',
    ),
    auto_rollback: v.optional(v.boolean('auto_rollback must be true or false'), true),
    keep_releases: v.optional(wholeNumber('keep_releases', 1000, ' (0: DEPLOY_KEEP_RELEASES)'), 0),
    skip_ci_marker: v.optional(v.boolean('skip_ci_marker must be true or false'), false),
  }, describeObjectIssue),
  v.transform((t) => ({
    ...t,
    remote_dir: t.remote_dir || `/opt/apps/${t.app}`,
    binary: t.binary || t.app,
    // A target cloned from a repository deploys only that repository's pushes, unless it names another.
    repo_name: t.repo_name || repoNameOf(t.repo),
  })),
);

export type TargetFields = v.InferOutput<typeof TargetSchema>;

export class InvalidTargetError extends Error {
  override name = 'InvalidTargetError';
  constructor(readonly field: string | undefined, readonly reason: string) {
    super(reason);
  }
}

/** Validates raw input (CLI flags or a JSON body) into a complete target, or throws naming the first problem. */
export function parseTarget(input: unknown): TargetFields {
  const result = v.safeParse(TargetSchema, input);
  if (result.success) return result.output;
  const issue = result.issues[0];
  const field = issue.path?.[0]?.key;
  throw new InvalidTargetError(typeof field === 'string' ? field : undefined, issue.message);
}
