import type { Request, RequestHandler } from 'express';
import type { Context } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { PushReceipt } from '../domain/push.ts';
import type { Config } from '../support/config.ts';
import { HttpError } from './errors.ts';
import { deliveryId, eventName, verifySignature } from './webhook-signature.ts';

/**
 * POST /webhook/push: the signature and the event here; the push itself is the receiver's. 202 with
 * the queued runs (or `resolving: true` while git says what a push changed), 200 with a reason when
 * nothing was queued. Gitea waits 5 s, then gives up: nothing here waits on the network.
 */
export function createWebhookHandler(deps: {
  config: Config;
  logger: Logger;
  receivePush: (body: Buffer, options: { deliveryId?: string; telemetry?: Context }) => Promise<PushReceipt>;
  insecureWebhooks?: boolean;
}): RequestHandler {
  const { config, logger } = deps;
  if (!config.webhookSecret && deps.insecureWebhooks) {
    logger.warn('webhooks are accepted WITHOUT a signature check (--insecure-webhooks): for development only');
  }
  return async (req: Request, res) => {
    if (!config.webhookSecret && !deps.insecureWebhooks) {
      throw new HttpError(401, 'webhooks are disabled: set DEPLOY_WEBHOOK_SECRET (or start serve with --insecure-webhooks)');
    }
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (config.webhookSecret && !verifySignature(body, req.headers, config.webhookSecret)) {
      throw new HttpError(401, 'missing or bad signature (X-Gitea-Signature, X-Forgejo-Signature or X-Hub-Signature-256)');
    }
    const event = eventName(req.headers);
    if (event && event !== 'push') {
      res.status(200).json({ queued: [], reason: `"${event}" events do not deploy` });
      return;
    }
    const receipt = await deps.receivePush(body, { deliveryId: deliveryId(req.headers), telemetry: res.locals.telemetry as Context | undefined });
    res.locals.pushOutcome = receipt.outcome; // for the metrics of deliveries
    // Accepted; the runs are queued once git says which files the push changed.
    if (receipt.outcome === 'resolving') {
      res.status(202).json({ queued: [], accepted: true, resolving: true, delivery: receipt.delivery });
      return;
    }
    const { outcome, ...answer } = receipt;
    res.status(outcome === 'queued' ? 202 : 200).json(answer);
  };
}
