// Why a target a push selected is not deployed: the head commit says so (`[skip deploy]`), or a lock
// holds it. Such targets get a `skipped` run with the reason, so the history shows every push.
import * as v from 'valibot';
import { describeLock, lockOf, type LockView } from './locks.ts';

/** Always honoured: the push asks not to be deployed. */
const SKIP_DEPLOY = /\[(skip deploy|deploy skip)\]/i;
/** Gitea's own CI marker: honoured only by targets that opt in (`--skip-ci-marker`). */
const SKIP_CI = /\[skip ci\]/i;

const Message = v.optional(v.nullable(v.object({ message: v.optional(v.string(), '') })));
const Commits = v.object({
  head_commit: Message,
  commits: v.optional(v.nullable(v.array(v.object({ id: v.optional(v.string(), ''), message: v.optional(v.string(), '') })))),
});

/**
 * The head commit's message of a push body already accepted by parsePushPayload (the raw body, or
 * the JSON readPushBody parsed): `head_commit`, else the listed commit whose id is `after` (Gitea
 * lists newest first), else the last listed. '' if none.
 */
export function headCommitMessage(body: Buffer | object, after: string): string {
  let json: unknown = body;
  if (Buffer.isBuffer(body)) {
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      return '';
    }
  }
  const parsed = v.safeParse(Commits, json);
  if (!parsed.success) return '';
  const { head_commit: head, commits } = parsed.output;
  if (head?.message) return head.message;
  const list = commits ?? [];
  return (list.find((commit) => commit.id === after) ?? list.at(-1))?.message ?? '';
}

/** The skip marker a message carries for a target, if any: `[skip deploy]`, `[deploy skip]`, or (opted in) `[skip ci]`. */
export function skipMarkerIn(message: string, target: { skip_ci_marker: boolean }): string | undefined {
  const marker = SKIP_DEPLOY.exec(message) ?? (target.skip_ci_marker ? SKIP_CI.exec(message) : null);
  return marker?.[0];
}

/** Why this target is not to be deployed for this push, or undefined to deploy it. Pure. */
export function whyNotDeploy(target: { app: string; host: string; skip_ci_marker: boolean }, push: { headMessage: string; locks: readonly LockView[] }): string | undefined {
  const marker = skipMarkerIn(push.headMessage, target);
  if (marker) return `skipped: the head commit says ${marker}`;
  const lock = lockOf(push.locks, target);
  if (lock) return `skipped: ${target.app}@${target.host} is ${describeLock(lock)}`;
  return undefined;
}
