import { defineEntity, type InferEntity } from '@mikro-orm/core';
import type { Strategy } from './DeployTarget.ts';

export const TRIGGERS = ['manual', 'api', 'webhook'] as const;
export type Trigger = (typeof TRIGGERS)[number];
export const RUN_STATUSES = ['queued', 'running', 'success', 'failure', 'cancelled', 'interrupted'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** One execution of a target's strategy pipeline. */
export const DeployRun = defineEntity({
  name: 'DeployRun',
  tableName: 'deploy_run',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    app: p.string().index(),
    host: p.string(),
    strategy: p.string().$type<Strategy>(),
    trigger: p.string().$type<Trigger>(),
    status: p.string().$type<RunStatus>().index(),
    ref: p.string().nullable(),
    commit: p.string().nullable(),
    error: p.text().nullable(),
    failed_step: p.string().nullable(),
    duration_ms: p.integer().nullable(),
    queued_at: p.datetime().onCreate(() => new Date()),
    started_at: p.datetime().nullable(),
    finished_at: p.datetime().nullable(),
    trace_id: p.string().nullable(),
    /** The process that runs (or ran) it: a run whose owner is gone was interrupted. */
    owner_pid: p.integer().nullable(),
  }),
});
export type DeployRun = InferEntity<typeof DeployRun>;
