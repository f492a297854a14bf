// Deploy freezes (locks): taken and lifted by people, honoured by the webhook (runs recorded
// `skipped`) and by deploy/rollback (refused unless forced). A lock names an app and one host, or
// every host of the app; it may expire.
import type { EntityManager } from '../db/orm.ts';
import { dateOfRaw, type PlainSql } from '../db/plain-sql.ts';
import * as v from 'valibot';
import { DeployLock } from '../db/entities/DeployLock.ts';
import { findTargets } from './targets.ts';

/** The outward shape of a lock (CLI --json, API). `host` null: every host of the app. */
export interface LockView {
  app: string;
  host: string | null;
  reason: string;
  locked_by: string;
  locked_at: string;
  expires_at: string | null;
}

/** Bad lock input (a reason missing, a duration that is not one): the API answers 400, the CLI exits 1. */
export class InvalidLockError extends Error {
  override name = 'InvalidLockError';
}

/** Nothing to unlock. */
export class NoLockError extends Error {
  override name = 'NoLockError';
}

/** A deploy or rollback refused because a lock holds (the API answers 409). */
export class TargetLockedError extends Error {
  override name = 'TargetLockedError';
}

/** Control characters would break the one-line messages a reason ends up in. */
const CONTROL = /[\u0000-\u001f\u007f]/;

const LockInput = v.object({
  app: v.pipe(v.string('app is required'), v.nonEmpty('app is required')),
  host: v.optional(v.pipe(v.string('host must be a string'), v.nonEmpty('host must not be empty'))),
  reason: v.pipe(
    v.string('a reason is required'),
    v.trim(),
    v.nonEmpty('a reason is required (--reason "…")'),
    v.maxLength(500, 'the reason must be at most 500 characters'),
    v.check((reason) => !CONTROL.test(reason), 'the reason must not contain newlines or control characters'),
  ),
  by: v.pipe(v.string('locked by must be a string'), v.trim(), v.nonEmpty('who locks must be named'), v.maxLength(100, 'locked by must be at most 100 characters'), v.check((by) => !CONTROL.test(by), 'locked by must not contain control characters')),
  /** How long the lock holds, e.g. `2h`, `30m`, `1d12h`; absent: until unlocked. */
  for: v.optional(v.string('for must be a duration like "2h"')),
});

export type LockInput = v.InferInput<typeof LockInput>;

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `90s`, `30m`, `2h`, `1d12h`, `1w` → milliseconds; throws InvalidLockError for anything else. */
export function parseDuration(raw: string): number {
  const text = raw.trim();
  if (!/^(\d+[smhdw])+$/.test(text)) throw new InvalidLockError(`--for must be a duration like 30m, 2h or 1d12h (got "${raw}")`);
  let ms = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)([smhdw])/g)) ms += Number(amount) * UNIT_MS[unit];
  if (ms <= 0) throw new InvalidLockError(`--for must be longer than nothing (got "${raw}")`);
  return ms;
}

export function viewLock(lock: Pick<DeployLock, 'app' | 'host' | 'reason' | 'locked_by' | 'locked_at' | 'expires_at'>): LockView {
  return {
    app: lock.app,
    host: lock.host ?? null,
    reason: lock.reason,
    locked_by: lock.locked_by,
    locked_at: lock.locked_at.toISOString(),
    expires_at: lock.expires_at ? lock.expires_at.toISOString() : null,
  };
}

function isActive(lock: { expires_at?: Date | null }, now: Date): boolean {
  return !lock.expires_at || lock.expires_at.getTime() > now.getTime();
}

/**
 * Locks an app (every host) or one of its hosts. The app (and host) must have a target. Locking the
 * same (app, host) again replaces that lock (a new reason, a new expiry). Expired locks are removed.
 */
export async function lockTarget(em: EntityManager, input: LockInput, now = new Date()): Promise<LockView> {
  const parsed = v.safeParse(LockInput, input);
  if (!parsed.success) throw new InvalidLockError(parsed.issues[0].message);
  const { app, host, reason, by } = parsed.output;
  const expiresAt = parsed.output.for === undefined ? null : new Date(now.getTime() + parseDuration(parsed.output.for));
  await findTargets(em, app, host); // throws UnknownTargetError naming the app (and host)
  return em.transactional(async (tx) => {
    await tx.nativeDelete(DeployLock, { expires_at: { $lte: now } });
    await tx.nativeDelete(DeployLock, { app, host: host ?? null });
    const lock = tx.create(DeployLock, { app, host: host ?? null, reason, locked_by: by, locked_at: now, expires_at: expiresAt });
    await tx.flush();
    return viewLock(lock);
  });
}

/**
 * Lifts the lock of one host (`host` given: exactly that lock) or every lock of the app (no host).
 * Returns the locks it lifted; throws NoLockError when none held.
 */
export async function unlockTarget(em: EntityManager, app: string, host?: string, now = new Date()): Promise<LockView[]> {
  const where = host ? { app, host } : { app };
  const locks = (await em.find(DeployLock, where, { orderBy: { id: 'asc' } })).filter((lock) => isActive(lock, now));
  await em.nativeDelete(DeployLock, where);
  if (locks.length === 0) throw new NoLockError(host ? `no lock on ${app}@${host}` : `no lock on app "${app}"`);
  return locks.map(viewLock);
}

/** The locks that hold now (of one app, or all), oldest first. */
export async function listLocks(em: EntityManager, app?: string, now = new Date()): Promise<LockView[]> {
  const locks = await em.find(DeployLock, app ? { app } : {}, { orderBy: { app: 'asc', id: 'asc' } });
  return locks.filter((lock) => isActive(lock, now)).map(viewLock);
}

/**
 * The locks in force, read with plain SQL (the webhook's hot path reads them per batch): the same
 * views as listLocks gives.
 */
export async function readActiveLocks(sql: PlainSql, now = new Date()): Promise<LockView[]> {
  const rows = await sql.all<{ app: string; host: string | null; reason: string; locked_by: string; locked_at: unknown; expires_at: unknown }>(
    'select app, host, reason, locked_by, locked_at, expires_at from deploy_lock where expires_at is null or expires_at > ? order by app asc, id asc', [now]);
  return rows.map((row) => viewLock({ ...row, locked_at: dateOfRaw(row.locked_at), expires_at: row.expires_at === null ? null : dateOfRaw(row.expires_at) }));
}

/** The lock that holds a target (its own host's, else the app-wide one), if any. Pure. */
export function lockOf(locks: readonly LockView[], target: { app: string; host: string }): LockView | undefined {
  const ofApp = locks.filter((lock) => lock.app === target.app);
  return ofApp.find((lock) => lock.host === target.host) ?? ofApp.find((lock) => lock.host === null);
}

/** "locked by alice: release freeze (until 2026-…)": what a skipped run and a refusal say. */
export function describeLock(lock: LockView): string {
  const until = lock.expires_at ? ` (until ${lock.expires_at})` : '';
  return `locked by ${lock.locked_by}: ${lock.reason}${until}`;
}

/**
 * For deploy and rollback: throws TargetLockedError naming every locked target unless `force`;
 * returns whether each target is locked (a forced run records that it overrode a lock).
 */
export async function checkLocks(em: EntityManager, targets: readonly { app: string; host: string }[], force: boolean, now = new Date()): Promise<boolean[]> {
  const locks = await listLocks(em, undefined, now);
  const held = targets.map((target) => lockOf(locks, target));
  const refused = targets.flatMap((target, i) => (held[i] ? [`${target.app}@${target.host} is ${describeLock(held[i])}`] : []));
  if (refused.length > 0 && !force) throw new TargetLockedError(`${refused.join('; ')} — use --force (API: "force": true) to go ahead anyway`);
  return held.map(Boolean);
}
