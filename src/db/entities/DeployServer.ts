import { defineEntity, type InferEntity } from '@mikro-orm/core';

/**
 * A `serve` (or deploying CLI) working the shared queue on PostgreSQL, and its lease: it renews
 * `heartbeat_at` every few seconds; a server whose lease lapses is gone, and its running runs become
 * `interrupted` (SQLite has one machine and asks the pid instead).
 */
export const DeployServer = defineEntity({
  name: 'DeployServer',
  tableName: 'deploy_server',
  properties: (p) => ({
    id: p.string().primary(),
    started_at: p.datetime(),
    heartbeat_at: p.datetime(),
  }),
});
export type DeployServer = InferEntity<typeof DeployServer>;
