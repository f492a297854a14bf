import express, { type Express, type Request, type Response } from 'express';
import type { MikroORM } from '../db/orm.ts';
import type { Logger } from 'pino';
import * as v from 'valibot';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Tracer } from '@opentelemetry/api';
import type { Config } from '../support/config.ts';
import type { DeployRequest, Executor } from '../engine/executor.ts';
import { COMMIT_ID } from '../domain/commit-id.ts';
import { createPushReceiver, type PushReceiver } from '../domain/push.ts';
import { findTargets, listTargets, noTargetError, removeTargets, saveTarget, viewTarget } from '../domain/targets.ts';
import { OUTPUT_LIMIT_BYTES, type RunStore, type RunView } from '../engine/run-store.ts';
import { traceUrl } from '../support/tracing.ts';
import { readServiceStatus, type ServiceStatus } from '../domain/service-status.ts';
import type { Connect } from '../transport/ssh/connect.ts';
import { lazyConnector } from '../transport/ssh/lazy-connect.ts';
import { createStatusCache } from '../domain/status-cache.ts';
import type { TargetFields } from '../domain/target-schema.ts';
import { requireBearerToken } from './auth.ts';
import { errorHandler, HttpError } from './errors.ts';
import { describeBodyIssue, parseBody, parseLimit, parseRunId, queryHost } from './params.ts';
import { streamRunEvents } from './run-events.ts';
import { createWebhookHandler } from './webhook-route.ts';
import { createDashboardRouter } from './dashboard.ts';
import { createLockRoutes } from './lock-routes.ts';
import { checkLocks } from '../domain/locks.ts';
import { createMetrics, createMetricsRoute, type Metrics } from './metrics.ts';
import { listNotificationAttempts } from '../domain/notifications.ts';

export interface AppDeps {
  orm: MikroORM;
  store: RunStore;
  config: Config;
  executor: Executor;
  logger: Logger;
  /** Spans of HTTP requests, parents of the runs they queue (one trace per deploy). */
  tracer?: Tracer;
  /** Accept unsigned webhooks when no secret is set (development only). */
  insecureWebhooks?: boolean;
  /** Accept POST/DELETE on /api without a bearer token when none is set (development only). */
  insecureApi?: boolean;
  /** SSH connections for the status route (the runtime's); one of its own when absent. */
  connect?: Connect;
  /** How the status route reads a host (SSH); replaceable so API tests need no host. */
  readStatus?: (target: TargetFields, config: Config) => Promise<ServiceStatus>;
  startedAt?: Date;
  /** Where GET /metrics counts (default: a new Registry of its own); createApp feeds it the executor's events. */
  metrics?: Metrics;
  /** The push receiver (its background resolutions are awaited by tests and at shutdown); one is made when absent. */
  pushes?: PushReceiver;
}

const LOG_OUTPUT_BYTES = 4 * 1024;

const describeBody = describeBodyIssue();
const HostField = v.optional(v.pipe(v.string('host must be a string'), v.nonEmpty('host must not be empty')));

const DeployBody = v.strictObject(
  {
    host: HostField,
    ref: v.optional(v.string('ref must be a string')),
    commit: v.optional(v.pipe(v.string('commit must be a string'), v.regex(COMMIT_ID, 'commit must be a full commit id (40 or 64 hex digits)'))),
    force: v.optional(v.boolean('force must be true or false')),
  },
  describeBody,
);

const RollbackBody = v.strictObject(
  { host: HostField, to: v.optional(v.pipe(v.number('to must be a run id'), v.integer('to must be a run id'), v.minValue(1, 'to must be a run id'))), force: v.optional(v.boolean('force must be true or false')) },
  describeBody,
);

/**
 * The HTTP API and the webhook, built from explicit dependencies so that tests and `serve` share it.
 * Express 5 hands a rejected handler promise to the error handler at the end.
 */
export function createApp(deps: AppDeps): Express {
  const { orm, store, config, executor, logger } = deps;
  const startedAt = deps.startedAt ?? new Date();
  // Cached per target for a few seconds, one SSH login at a time per host, whoever asks how often.
  const connect = deps.connect ?? lazyConnector(config).connect;
  const readStatus = createStatusCache(deps.readStatus ?? ((target, config) => readServiceStatus(target, config, connect)));
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  // One JSON line per request: method, path (never the query or a header), status, time.
  app.use((req, res, next) => {
    const started = performance.now();
    res.on('finish', () => {
      logger.info({ method: req.method, path: req.path, status: res.statusCode, ms: Math.round(performance.now() - started) }, 'request');
    });
    next();
  });

  // A span per request; the routes that queue runs make it the runs' parent.
  const tracer = deps.tracer ?? trace.getTracer('deploy_server');
  app.use((req, res, next) => {
    const span = tracer.startSpan(`${req.method} ${req.path}`, {
      kind: SpanKind.SERVER,
      attributes: { 'http.request.method': req.method, 'url.path': req.path },
    });
    res.locals.telemetry = trace.setSpan(ROOT_CONTEXT, span);
    res.on('close', () => {
      if (req.route?.path) span.updateName(`${req.method} ${req.route.path}`);
      span.setAttribute('http.response.status_code', res.statusCode);
      if (res.statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
      span.end();
    });
    next();
  });

  // --insecure-api opens the API only where no token at all is set: a read token alone keeps writes closed.
  const openApi = deps.insecureApi === true && !config.apiToken && !config.apiReadToken;
  const auth = requireBearerToken([config.apiToken], { allowWithoutToken: openApi, what: 'write', variables: 'DEPLOY_API_TOKEN' });
  // Reads show targets (repositories, build commands), run output and host status: a token too. The
  // write token reads as well; a read-only one may be given besides it.
  const readAuth = requireBearerToken([config.apiToken, config.apiReadToken], {
    allowWithoutToken: openApi,
    what: 'read',
    variables: 'DEPLOY_API_READ_TOKEN or DEPLOY_API_TOKEN',
  });
  if (openApi) logger.warn('the API routes need NO token (--insecure-api): for development only');
  const json = express.json({ limit: '1mb', strict: false });

  const metrics = deps.metrics ?? createMetrics();
  metrics.observe((listener) => executor.subscribe(listener));
  // A scrape needs DEPLOY_METRICS_TOKEN or DEPLOY_API_TOKEN when either is set; with neither, /metrics
  // is open (a scraper on a private network), unlike the /api reads.
  const metricsAuth = requireBearerToken([config.metricsToken, config.apiToken], { allowWithoutToken: true, what: 'metrics', variables: 'DEPLOY_METRICS_TOKEN or DEPLOY_API_TOKEN' });
  app.get('/metrics', metricsAuth, createMetricsRoute(metrics));
  app.post('/webhook/push', metrics.countWebhookDeliveries);

  const pushes = deps.pushes ?? createPushReceiver({ orm, store, config, executor, logger });
  // Pushes a stopped process had accepted but not resolved yet.
  pushes.resumePending().catch((error) => logger.error({ err: { name: (error as Error).name } }, 'resuming pending pushes failed'));
  app.post('/webhook/push', express.raw({ type: () => true, limit: '5mb' }), createWebhookHandler({
    config, logger, insecureWebhooks: deps.insecureWebhooks, receivePush: (body, options) => pushes.receive(body, options),
  }));

  app.get('/api/health', async (_req, res) => {
    const database = await orm.isConnected();
    res.status(database ? 200 : 503).json({
      status: database ? 'ok' : 'degraded',
      database: database ? 'ok' : 'unreachable',
      uptime_s: Math.round((Date.now() - startedAt.getTime()) / 1000),
    });
  });

  app.get('/api/targets', readAuth, async (_req, res) => {
    res.json((await listTargets(orm.em.fork())).map(viewTarget));
  });

  app.get('/api/targets/:app', readAuth, async (req, res) => {
    const targets = await listTargets(orm.em.fork(), String(req.params.app));
    if (targets.length === 0) throw noTargetError(String(req.params.app));
    res.json(targets.map(viewTarget));
  });

  app.post('/api/targets', auth, json, async (req, res) => {
    const { target, created } = await saveTarget(orm.em.fork(), (req.body ?? {}) as Record<string, unknown>);
    res.status(created ? 201 : 200).json(viewTarget(target));
  });

  app.delete('/api/targets/:app', auth, async (req, res) => {
    const host = queryHost(req);
    res.json({ removed: await removeTargets(orm.em.fork(), String(req.params.app), host) });
  });

  /** A run per host of the app (or the one named by `host` in the body or the query): 202 with the queued runs. */
  const queueRuns = async (req: Request, res: Response, request: Omit<DeployRequest, 'app' | 'host' | 'telemetry'>, bodyHost?: string, force = false) => {
    const targets = await findTargets(orm.em.fork(), String(req.params.app), bodyHost ?? queryHost(req));
    const locked = await checkLocks(orm.em.fork(), targets, force); // 409 while locked, unless forced
    const telemetry = res.locals.telemetry as Context;
    const runs = await executor.requestDeploys(targets.map((target, i) => ({ request: { ...request, app: target.app, host: target.host, telemetry, forced: locked[i] }, target })));
    res.status(202).json({ queued: runs.map(({ runId }, i) => ({ app: targets[i].app, host: targets[i].host, run_id: runId })) });
  };

  app.post('/api/deploy/:app', auth, json, async (req, res) => {
    const body = parseBody(DeployBody, req.body);
    await queueRuns(req, res, { trigger: 'api', ref: body.ref, commit: body.commit }, body.host, body.force);
  });

  app.post('/api/rollback/:app', auth, json, async (req, res) => {
    const body = parseBody(RollbackBody, req.body);
    await queueRuns(req, res, { trigger: 'rollback', rollbackTo: body.to ?? null }, body.host, body.force);
  });

  app.get('/api/status/:app', readAuth, async (req, res) => {
    const targets = await findTargets(orm.em.fork(), String(req.params.app));
    res.json(await Promise.all(targets.map((target) => readStatus(target, config))));
  });

  // Runs go out with a link to their trace when DEPLOY_JAEGER_URL is set.
  const withTraceUrl = (run: RunView) => ({ ...run, trace_url: traceUrl(config.jaegerUrl, run.trace_id) });

  app.get('/api/logs', readAuth, async (req, res) => {
    res.json((await store.listRuns({ limit: parseLimit(req.query.limit), outputBytes: LOG_OUTPUT_BYTES })).map(withTraceUrl));
  });

  app.get('/api/logs/:app', readAuth, async (req, res) => {
    res.json((await store.listRuns({ app: String(req.params.app), limit: parseLimit(req.query.limit), outputBytes: LOG_OUTPUT_BYTES })).map(withTraceUrl));
  });

  app.get('/api/runs/:id', readAuth, async (req, res) => {
    const run = await store.findRun(parseRunId(String(req.params.id)), OUTPUT_LIMIT_BYTES);
    if (!run) throw new HttpError(404, `no run #${String(req.params.id)}`);
    res.json({ ...withTraceUrl(run), notifications: await listNotificationAttempts(orm.em.fork(), run.id) });
  });

  app.get('/api/runs/:id/events', readAuth, async (req, res) => {
    await streamRunEvents({ store, executor }, parseRunId(String(req.params.id)), req, res);
  });

  app.post('/api/runs/:id/cancel', auth, async (req, res) => {
    const id = parseRunId(String(req.params.id));
    if (!(await executor.cancel(id))) throw new HttpError(409, `run #${id} has already ended`);
    res.status(202).json({ run_id: id, cancelling: true });
  });

  app.use(createDashboardRouter({ store, executor, logger, readAuth }));
  app.use(createLockRoutes({ orm, auth, json, readAuth }));

  app.use((_req, res) => {
    res.status(404).json({ error: 'no such route' });
  });

  app.use(errorHandler(logger));
  return app;
}
