import { defineEntity, type InferEntity } from '@mikro-orm/core';

/**
 * A deploy freeze: while it holds, webhook deploys of the app (on one host, or on all when `host` is
 * null) are recorded as `skipped`, and `deploy`/`rollback` refuse unless forced.
 */
export const DeployLock = defineEntity({
  name: 'DeployLock',
  tableName: 'deploy_lock',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    app: p.string().index(),
    /** Null: every host of the app. */
    host: p.string().nullable(),
    reason: p.text(),
    /** Who locked it: $USER (or --by) from the CLI, "api" from the API. */
    locked_by: p.string(),
    locked_at: p.datetime().onCreate(() => new Date()),
    /** Null: until unlocked. */
    expires_at: p.datetime().nullable(),
  }),
});
export type DeployLock = InferEntity<typeof DeployLock>;
