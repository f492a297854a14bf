import { defineEntity, type InferEntity } from '@mikro-orm/core';
import type { Strategy } from './DeployTarget.ts';

import type { RunStatus, Trigger } from '../../domain/vocabulary.ts';

export { RUN_STATUSES, TRIGGERS, type RunStatus, type Trigger } from '../../domain/vocabulary.ts';

/** One execution of a target's strategy pipeline. */
export const DeployRun = defineEntity({
  name: 'DeployRun',
  tableName: 'deploy_run',
  // A target's runs newest first (the dashboard's grid, `releases`), and its newest run of a status
  // (the commit it runs, the next queued run): a walk of a few index entries, however long the history.
  indexes: [{ properties: ['app', 'host', 'id'] }, { properties: ['app', 'host', 'status', 'id'] }],
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
    /** The commit the run moved from and to: `gitPull` (remote strategies), the build's worktree (systemd, `commit_after`), a rollback's reset. */
    commit_before: p.string().nullable(),
    commit_after: p.string().nullable(),
    /** The release (the id of the run that shipped it) this run left current (systemd). */
    release: p.integer().nullable(),
    /** A rollback run: the run whose release it went back to. */
    rollback_to: p.integer().nullable(),
    /** The deploy failed and its compensation path put the previous release back. */
    rolled_back: p.boolean().default(false),
    /** The process that runs (or ran) it: a run whose owner is gone was interrupted. */
    owner_pid: p.integer().nullable(),
    /**
     * While it runs, its owner renews this (engine/run-store.ts, LEASE_MS ahead): a run whose lease has
     * lapsed holds its target no more, even if its owner's pid lives (its database writes fail).
     */
    lease_until: p.datetime().nullable(),
    /** A deploy or rollback that went ahead although a lock held (`--force`). */
    forced: p.boolean().default(false),
    /** The pushed repository (`owner/name`) of a webhook run: where its commit status goes. */
    repository: p.string().nullable(),
    /**
     * On PostgreSQL (several servers): the server (a DeployServer id) that claimed and runs it. A run
     * whose server's lease has lapsed was interrupted. Null while queued: any server may take it.
     */
    owner: p.string().nullable(),
    /** A cancel asked of a server that does not run it: the owner sees it at its next heartbeat and stops the run. */
    cancel_requested: p.boolean().default(false),
  }),
});
export type DeployRun = InferEntity<typeof DeployRun>;
