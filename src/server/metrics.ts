// Prometheus metrics (GET /metrics): runs, run and step durations, queue depth and running runs fed
// from the executor's events, webhook deliveries by outcome, and the process's own metrics. Every
// metric lives in the Registry given (never prom-client's global one), so two apps in one process
// (the tests) count apart.
import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { RunEvent } from '../engine/events.ts';
import { isFinished } from '../engine/run-store.ts';

/** How often the event loop delay (nodejs_eventloop_lag_*) is sampled. */
const EVENT_LOOP_SAMPLE_MS = 100;

const DURATION_BUCKETS_S = [0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800];

export interface Metrics {
  readonly registry: Registry;
  /** Feeds the run metrics from an executor's events (`executor.subscribe`); returns the unsubscribe. */
  observe(subscribe: (listener: (event: RunEvent) => void) => () => void): () => void;
  /** Counts each POST /webhook/push when it is answered, by what became of it. */
  countWebhookDeliveries: RequestHandler;
}

/** What a run was labelled with when it was queued (the later events carry only its id). */
interface RunLabels {
  app: string;
  host: string;
  strategy: string;
  trigger: string;
  state: 'queued' | 'running';
}

export function createMetrics(options: { registry?: Registry; processMetrics?: boolean } = {}): Metrics {
  const registry = options.registry ?? new Registry();
  // The event loop delay histogram samples on a timer: prom-client's default of every 10 ms wakes an
  // idle server 100 times a second (~9 ms of CPU per second, a deploy's worth every 10 s). Every 100 ms
  // still catches any stall of 100 ms or more, the ones that matter here, for ~1 ms per second.
  if (options.processMetrics ?? true) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_SAMPLE_MS });
  const registers = [registry];

  const runs = new Counter({
    name: 'deploy_server_runs_total',
    help: 'Runs that ended, by app, host, strategy, trigger and final status (skipped runs included).',
    labelNames: ['app', 'host', 'strategy', 'trigger', 'status'] as const,
    registers,
  });
  const runDuration = new Histogram({
    name: 'deploy_server_run_duration_seconds',
    help: 'How long runs that started took, from start to end.',
    labelNames: ['app', 'host', 'strategy', 'trigger', 'status'] as const,
    buckets: DURATION_BUCKETS_S,
    registers,
  });
  const stepDuration = new Histogram({
    name: 'deploy_server_step_duration_seconds',
    help: 'How long steps took, by strategy, step and status.',
    labelNames: ['strategy', 'step', 'status'] as const,
    buckets: DURATION_BUCKETS_S,
    registers,
  });
  const queued = new Gauge({ name: 'deploy_server_runs_queued', help: 'Runs waiting for their turn (queue depth).', registers });
  const running = new Gauge({ name: 'deploy_server_runs_running', help: 'Runs running now.', registers });
  const deliveries = new Counter({
    name: 'deploy_server_webhook_deliveries_total',
    help: 'Webhook deliveries by outcome: queued, resolving, skipped, ignored, replayed, unauthorized, invalid, too_large, error.',
    labelNames: ['outcome'] as const,
    registers,
  });
  queued.set(0);
  running.set(0);

  const known = new Map<number, RunLabels>();
  const onEvent = (event: RunEvent) => {
    if (event.type === 'step') {
      const run = known.get(event.run_id);
      if (run && event.duration_ms !== undefined && ['success', 'failure', 'cancelled'].includes(event.status)) {
        stepDuration.observe({ strategy: run.strategy, step: event.step, status: event.status }, event.duration_ms / 1000);
      }
      return;
    }
    if (event.type !== 'run') return;
    if (event.status === 'queued') {
      known.set(event.run_id, { app: event.app, host: event.host, strategy: event.strategy ?? 'unknown', trigger: event.trigger ?? 'unknown', state: 'queued' });
      queued.inc();
      return;
    }
    const run = known.get(event.run_id);
    if (event.status === 'running') {
      if (run?.state === 'queued') {
        run.state = 'running';
        queued.dec();
        running.inc();
      }
      return;
    }
    if (!isFinished(event.status)) return;
    known.delete(event.run_id);
    if (run?.state === 'queued') queued.dec();
    if (run?.state === 'running') running.dec();
    const labels = {
      app: event.app, host: event.host, strategy: run?.strategy ?? event.strategy ?? 'unknown', trigger: run?.trigger ?? event.trigger ?? 'unknown', status: event.status,
    };
    runs.inc(labels);
    const ms = event.result?.duration_ms;
    if (run?.state === 'running' && typeof ms === 'number') runDuration.observe(labels, ms / 1000);
  };

  return {
    registry,
    observe: (subscribe) => subscribe(onEvent),
    countWebhookDeliveries: (_req, res, next) => {
      res.on('finish', () => deliveries.inc({ outcome: (res.locals.pushOutcome as string | undefined) ?? outcomeOfStatus(res.statusCode) }));
      next();
    },
  };
}

/** A delivery the receiver never saw: its answer's status says what happened. */
function outcomeOfStatus(status: number): string {
  if (status === 401) return 'unauthorized';
  if (status === 413) return 'too_large';
  if (status >= 400 && status < 500) return 'invalid';
  if (status >= 500) return 'error';
  return 'ignored'; // 200 for an event that is not a push
}

/** GET /metrics in Prometheus' text format (its bearer check is requireBearerToken, in createApp). */
export function createMetricsRoute(metrics: Metrics): RequestHandler {
  return async (_req, res) => {
    res.set('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
  };
}
