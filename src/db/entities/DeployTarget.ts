import { defineEntity, type InferEntity } from '@mikro-orm/core';

import type { Strategy } from '../../domain/vocabulary.ts';

export { STRATEGIES, type Strategy } from '../../domain/vocabulary.ts';

/** How one app is deployed to one host (SPEC §2). Field names are the API's and the JSON output's. */
export const DeployTarget = defineEntity({
  name: 'DeployTarget',
  tableName: 'deploy_target',
  properties: (p) => ({
    app: p.string().primary(),
    host: p.string().primary(),
    remote_dir: p.string(),
    binary: p.string(),
    build_cmd: p.text(),
    user: p.string(),
    port: p.integer(),
    health: p.string(),
    env: p.json<Record<string, string>>(),
    strategy: p.string().$type<Strategy>(),
    source_dir: p.string(),
    branch: p.string(),
    compose_files: p.json<string[]>(),
    repo: p.string(),
    /** `owner/name` of the repository whose pushes deploy it; '' = any repository. */
    repo_name: p.string().default(''),
    /** Put the previous release back when the health check fails after a deploy. */
    auto_rollback: p.boolean().default(true),
    /** Releases kept on the host (systemd); 0 = DEPLOY_KEEP_RELEASES. */
    keep_releases: p.integer().default(0),
    /** Gitea's `[skip ci]` in a push's head commit also skips deploying this target. */
    skip_ci_marker: p.boolean().default(false),
    created_at: p.datetime().onCreate(() => new Date()),
    updated_at: p.datetime().onCreate(() => new Date()).onUpdate(() => new Date()),
  }),
});
export type DeployTarget = InferEntity<typeof DeployTarget>;
