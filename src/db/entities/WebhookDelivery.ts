import { defineEntity, type InferEntity } from '@mikro-orm/core';

export const DELIVERY_STATUSES = ['resolving', 'queued', 'ignored', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * A push webhook received (SPEC §5), written before the answer: replays are recognised across restarts
 * (by X-Gitea-Delivery and by (repository, ref, after)), and a push whose changed files are still being
 * resolved from git when the process stops is resolved at the next start.
 */
export const WebhookDelivery = defineEntity({
  name: 'WebhookDelivery',
  tableName: 'webhook_delivery',
  indexes: [{ properties: ['repository', 'ref', 'after'] }],
  properties: (p) => ({
    id: p.integer().primary().autoincrement(),
    /** X-Gitea-Delivery / X-Forgejo-Delivery / X-Gogs-Delivery, when sent. */
    delivery_id: p.string().nullable().index(),
    /** `owner/name`. */
    repository: p.string(),
    ref: p.string(),
    after: p.string(),
    status: p.string().$type<DeliveryStatus>(),
    /** The parsed payload (the fields we use), while its files are being resolved. */
    payload: p.json<unknown>().nullable(),
    /** The runs it queued. */
    run_ids: p.json<{ app: string; host: string; run_id: number }[]>().nullable(),
    reason: p.text().nullable(),
    received_at: p.datetime().onCreate(() => new Date()),
  }),
});
export type WebhookDelivery = InferEntity<typeof WebhookDelivery>;
