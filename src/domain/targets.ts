import type { EntityManager } from '../db/orm.ts';
import type { PlainSql } from '../db/plain-sql.ts';
import { DeployTarget } from '../db/entities/DeployTarget.ts';
import { parseTarget, repoNameOf, type TargetFields } from './target-schema.ts';
import { readTargetRows, targetRowsQuery, toTargetFields, type StoredTarget } from './target-view.ts';

export { TARGET_FIELDS, toTargetFields, viewTarget, type StoredTarget, type TargetView } from './target-view.ts';

export class UnknownTargetError extends Error {
  override name = 'UnknownTargetError';
}

/** `no target for app "a"`, or `… on host "h"`: the one wording of a missing target, CLI and API alike. */
export function noTargetError(app: string, host?: string): UnknownTargetError {
  return new UnknownTargetError(host ? `no target for app "${app}" on host "${host}"` : `no target for app "${app}"`);
}

/**
 * Creates a target, or updates an existing (app, host): fields given replace the stored ones, the others
 * are kept. Nothing is written unless the merged target is valid.
 */
export async function saveTarget(em: EntityManager, input: Record<string, unknown>): Promise<{ target: DeployTarget; created: boolean }> {
  // One transaction: SQLite runs one at a time, so two saves of the same new target cannot both insert.
  return em.transactional((tx) => saveTargetIn(tx, input));
}

async function saveTargetIn(em: EntityManager, input: Record<string, unknown>): Promise<{ target: DeployTarget; created: boolean }> {
  const existing =
    typeof input.app === 'string' && typeof input.host === 'string'
      ? await em.findOne(DeployTarget, { app: input.app, host: input.host })
      : null;
  const given = Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined));
  const stored: Partial<TargetFields> | undefined = existing ? toTargetFields(existing) : undefined;
  // A repo_name derived from the old --repo follows a new --repo; one set by hand stays.
  if (stored && given.repo !== undefined && given.repo_name === undefined && stored.repo_name === repoNameOf(stored.repo ?? '')) delete stored.repo_name;
  const fields = parseTarget(stored ? { ...stored, ...given } : given);
  if (existing) {
    em.assign(existing, fields);
    await em.flush();
    return { target: existing, created: false };
  }
  const target = em.create(DeployTarget, fields);
  await em.flush();
  return { target, created: true };
}

export async function listTargets(em: EntityManager, app?: string): Promise<DeployTarget[]> {
  return em.find(DeployTarget, app ? { app } : {}, { orderBy: { app: 'asc', host: 'asc' } });
}

/**
 * Every target (or an app's), as listTargets orders them, read with plain SQL: what the webhook's
 * hot path reads per batch, without the unit of work's cost (the same values: see target-view.ts).
 */
export async function readTargets(plain: PlainSql, app?: string): Promise<StoredTarget[]> {
  const { sql, params } = targetRowsQuery(app);
  return readTargetRows(await plain.all(sql, params));
}

/** The targets of an app, or its one target on `host`; throws (naming both) when there is none. */
export async function findTargets(em: EntityManager, app: string, host?: string): Promise<TargetFields[]> {
  const targets = await em.find(DeployTarget, host ? { app, host } : { app }, { orderBy: { host: 'asc' } });
  if (targets.length === 0) throw noTargetError(app, host);
  return targets.map(toTargetFields);
}

/** Removes one host of an app, or all of them; throws when there was nothing to remove. */
export async function removeTargets(em: EntityManager, app: string, host?: string): Promise<number> {
  const removed = await em.nativeDelete(DeployTarget, host ? { app, host } : { app });
  if (removed === 0) throw noTargetError(app, host);
  return removed;
}
