import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { DeployRun } from './DeployRun.ts';

import type { StepStatus } from '../../domain/vocabulary.ts';

export { STEP_STATUSES, type StepStatus } from '../../domain/vocabulary.ts';

/** One step of a run: its status, timing, exit code and the tail of its output. */
export const StepRun = defineEntity({
  name: 'StepRun',
  tableName: 'step_run',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    run: p.manyToOne(DeployRun).deleteRule('cascade').index(),
    step: p.string(),
    status: p.string().$type<StepStatus>(),
    started_at: p.datetime().nullable(),
    duration_ms: p.integer().nullable(),
    exit_code: p.integer().nullable(),
    output: p.text().default(''),
    error: p.text().nullable(),
  }),
});
export type StepRun = InferEntity<typeof StepRun>;
