import type { EntityManager } from '../db/orm.ts';
import { DeployTarget } from '../db/entities/DeployTarget.ts';
import { maskKnownSecrets } from '../support/redact.ts';
import { TargetSchema, parseTarget, repoNameOf, type TargetFields } from './target-schema.ts';

export class UnknownTargetError extends Error {
  override name = 'UnknownTargetError';
}

/** `no target for app "a"`, or `… on host "h"`: the one wording of a missing target, CLI and API alike. */
export function noTargetError(app: string, host?: string): UnknownTargetError {
  return new UnknownTargetError(host ? `no target for app "${app}" on host "${host}"` : `no target for app "${app}"`);
}

export const TARGET_FIELDS = Object.keys(TargetSchema.pipe[0].entries) as (keyof TargetFields)[];

/** The target's own fields, without the row's timestamps. */
export function toTargetFields(target: DeployTarget): TargetFields {
  return Object.fromEntries(TARGET_FIELDS.map((field) => [field, target[field]])) as TargetFields;
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

export type TargetView = TargetFields & { created_at: string; updated_at: string };

/**
 * The outward form of a target (CLI JSON, API): every field, with env values masked, and credentials
 * in the repo URL and the build command (`https://user:token@…`, `NPM_TOKEN=…`) too.
 */
export function viewTarget(target: DeployTarget): TargetView {
  const fields = toTargetFields(target);
  return {
    ...fields,
    repo: maskKnownSecrets(fields.repo),
    build_cmd: maskKnownSecrets(fields.build_cmd),
    env: Object.fromEntries(Object.keys(fields.env).map((key) => [key, '***'])),
    created_at: target.created_at.toISOString(),
    updated_at: target.updated_at.toISOString(),
  };
}
