// The words runs and targets are made of, as constants with no dependency: entities, views and the
// dashboard's types share them.

export const STRATEGIES = ['systemd', 'systemd-remote', 'docker-compose'] as const;
export type Strategy = (typeof STRATEGIES)[number];

export const TRIGGERS = ['manual', 'api', 'webhook', 'rollback'] as const;
export type Trigger = (typeof TRIGGERS)[number];

export const RUN_STATUSES = ['queued', 'running', 'success', 'failure', 'cancelled', 'interrupted', 'skipped'] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

export const STEP_STATUSES = ['pending', 'running', 'success', 'failure', 'skipped', 'cancelled'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];
