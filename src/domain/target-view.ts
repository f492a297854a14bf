// A target's outward form, and its fields from a row read either way (an entity of the ORM, or a plain
// SQL row: see readTargetRows). Imports no entity, so that a command reading without the ORM loads none.
import type { DeployTarget } from '../db/entities/DeployTarget.ts';
import { dateOfRaw, jsonOfRaw } from '../db/plain-sql.ts';
import { maskKnownSecrets } from '../support/redact.ts';
import { TargetSchema, type TargetFields } from './target-schema.ts';

export const TARGET_FIELDS = Object.keys(TargetSchema.pipe[0].entries) as (keyof TargetFields)[];

/** A target as stored: its fields and the row's timestamps (an entity, or a row read with readTargetRows). */
export type StoredTarget = TargetFields & Pick<DeployTarget, 'created_at' | 'updated_at'>;

/** The target's own fields, without the row's timestamps. */
export function toTargetFields(target: StoredTarget | DeployTarget): TargetFields {
  return Object.fromEntries(TARGET_FIELDS.map((field) => [field, target[field]])) as TargetFields;
}

export type TargetView = TargetFields & { created_at: string; updated_at: string };

/**
 * The outward form of a target (CLI JSON, API): every field, with env values masked, and credentials
 * in the repo URL and the build command (`https://user:token@…`, `NPM_TOKEN=…`) too.
 */
export function viewTarget(target: StoredTarget | DeployTarget): TargetView {
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

/** The columns stored as JSON text, as booleans (0/1 in SQLite) and as datetimes (epoch milliseconds in SQLite). */
const JSON_COLUMNS = new Set(['env', 'compose_files']);
const BOOLEAN_COLUMNS = new Set(['auto_rollback', 'skip_ci_marker']);

/** `select … from deploy_target`, ordered as listTargets orders, for readTargetRows. */
export function targetRowsQuery(app?: string): { sql: string; params: string[] } {
  const columns = [...TARGET_FIELDS, 'created_at', 'updated_at'].map((column) => `"${column}"`).join(', ');
  return { sql: `select ${columns} from deploy_target${app ? ' where app = ?' : ''} order by app asc, host asc`, params: app ? [app] : [] };
}

/** Targets from SQLite rows read with targetRowsQuery: the same values the ORM's entities hold. */
export function readTargetRows(rows: Record<string, unknown>[]): StoredTarget[] {
  return rows.map((row) => Object.fromEntries(Object.entries(row).map(([column, value]) => {
    if (JSON_COLUMNS.has(column)) return [column, jsonOfRaw(value)];
    if (BOOLEAN_COLUMNS.has(column)) return [column, Boolean(value)];
    if (column === 'created_at' || column === 'updated_at') return [column, dateOfRaw(value)];
    return [column, value];
  })) as StoredTarget);
}
