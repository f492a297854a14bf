import { defineEntity, type InferEntity } from '@mikro-orm/core';
import { DeployRun } from './DeployRun.ts';

/** One attempt to tell a sink (a webhook, Slack, Matrix, a Gitea commit status) about a run. */
export const NotificationAttempt = defineEntity({
  name: 'NotificationAttempt',
  tableName: 'notification_attempt',
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    run: p.manyToOne(DeployRun).deleteRule('cascade'),
    /** The sink's kind and host (`slack hooks.slack.com`), never its URL path or token. */
    sink: p.string(),
    /** `start` or `end` of the run. */
    event: p.string(),
    attempt: p.integer(),
    /** `success` or `failure`. */
    status: p.string(),
    http_status: p.integer().nullable(),
    error: p.text().nullable(),
    sent_at: p.datetime(),
    duration_ms: p.integer(),
  }),
});
export type NotificationAttempt = InferEntity<typeof NotificationAttempt>;
