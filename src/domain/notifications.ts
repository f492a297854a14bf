// Telling the world about runs: a signed JSON webhook, Slack, Matrix and Gitea commit statuses. Sent
// in the background from the executor's events, each attempt with a timeout, retried with backoff,
// recorded (notification_attempt); a sink that is down never slows or fails a deploy.
import { createHmac } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EntityManager, MikroORM } from '../db/orm.ts';
import { NotificationAttempt } from '../db/entities/NotificationAttempt.ts';
import type { RunEvent } from '../engine/events.ts';
import { isFinished, type RunStore, type RunView } from '../engine/run-store.ts';
import { createRedactor } from '../support/redact.ts';
import { traceUrl } from '../support/tracing.ts';
import { commitStatusRequest } from './commit-status.ts';
import { describeSink, sinkSecrets, type NotificationSettings, type NotifyEvent, type RunFacts, type Sink, type SinkRequest } from './notification-config.ts';

export type { NotifyEvent, RunFacts, SinkRequest } from './notification-config.ts';

export interface NotificationView {
  sink: string;
  event: string;
  attempt: number;
  status: string;
  http_status: number | null;
  error: string | null;
  sent_at: string;
  duration_ms: number;
}

export function factsOf(run: RunView, event: NotifyEvent, links: { jaegerUrl?: string; publicUrl?: string }): RunFacts {
  return {
    event: `run.${event}`,
    app: run.app,
    host: run.host,
    run_id: run.id,
    status: run.status,
    failed_step: run.failed_step,
    error: run.error,
    commit: run.commit ?? run.commit_after,
    ref: run.ref,
    duration_ms: run.duration_ms,
    trigger: run.trigger,
    strategy: run.strategy,
    trace_url: traceUrl(links.jaegerUrl, run.trace_id),
    run_url: links.publicUrl ? `${links.publicUrl.replace(/\/+$/, '')}/api/runs/${run.id}` : null,
  };
}

/** `✅ web@vps1: success in 3.2s — run #12 (webhook, commit d41e7b9)`, and the trace link. */
export function describeRun(facts: RunFacts): string {
  if (facts.event === 'run.start') return `🚀 ${facts.app}@${facts.host}: deploying — run #${facts.run_id} (${facts.trigger}${facts.commit ? `, commit ${facts.commit.slice(0, 7)}` : ''})`;
  const mark = facts.status === 'success' ? '✅' : facts.status === 'skipped' ? '⏭️' : '❌';
  const at = facts.failed_step ? ` at ${facts.failed_step}` : '';
  const took = facts.duration_ms !== null ? ` in ${(facts.duration_ms / 1000).toFixed(1)}s` : '';
  const why = facts.status !== 'success' && facts.error ? `: ${facts.error}` : '';
  const links = [facts.trace_url, facts.run_url].filter(Boolean).map((link) => `\n${link}`).join('');
  return `${mark} ${facts.app}@${facts.host}: ${facts.status}${at}${took}${why} — run #${facts.run_id} (${facts.trigger}${facts.commit ? `, commit ${facts.commit.slice(0, 7)}` : ''})${links}`;
}

/** The request that tells `sink` about a run; undefined when the sink has nothing to say (Gitea without a commit). */
export function sinkRequest(sink: Sink, facts: RunFacts, repository: string | null): SinkRequest | undefined {
  const json = { 'content-type': 'application/json' };
  switch (sink.type) {
    case 'webhook': {
      const body = JSON.stringify(facts);
      const signature = createHmac('sha256', sink.secret).update(body).digest('hex');
      return { method: 'POST', url: sink.url, headers: { ...json, 'x-deploy-signature': `sha256=${signature}` }, body };
    }
    case 'slack':
      return { method: 'POST', url: sink.url, headers: json, body: JSON.stringify({ text: describeRun(facts) }) };
    case 'matrix': {
      // The transaction id is the same on every retry: Matrix then posts the message once.
      const txn = `deploy-${facts.run_id}-${facts.event}`;
      const url = `${sink.homeserver.replace(/\/+$/, '')}/_matrix/client/v3/rooms/${encodeURIComponent(sink.room)}/send/m.room.message/${encodeURIComponent(txn)}`;
      return { method: 'PUT', url, headers: { ...json, authorization: `Bearer ${sink.token}` }, body: JSON.stringify({ msgtype: 'm.text', body: describeRun(facts) }) };
    }
    case 'gitea':
      return commitStatusRequest(sink, facts, repository);
  }
}

export async function listNotificationAttempts(em: EntityManager, runId: number): Promise<NotificationView[]> {
  const rows = await em.find(NotificationAttempt, { run: runId }, { orderBy: { id: 'asc' } });
  return rows.map((row) => ({
    sink: row.sink, event: row.event, attempt: row.attempt, status: row.status, http_status: row.http_status ?? null,
    error: row.error ?? null, sent_at: row.sent_at.toISOString(), duration_ms: row.duration_ms,
  }));
}

export interface NotifierDeps {
  settings: NotificationSettings;
  orm: MikroORM;
  store: RunStore;
  jaegerUrl?: string;
  publicUrl?: string;
  /** Other values no message or record may carry (the server's own secrets). */
  secrets?: string[];
  /** The pause before retry n (1-based); default 1 s, 2 s, 4 s, … */
  backoffMs?: (retry: number) => number;
  fetch?: typeof fetch;
}

export interface Notifier {
  /** Sends from an executor's events (`executor.subscribe`); returns the unsubscribe. */
  observe(subscribe: (listener: (event: RunEvent) => void) => () => void): () => void;
  /** Waits for deliveries under way, at most `ms` (at shutdown, at the CLI's exit). */
  drain(ms: number): Promise<void>;
}

export function createNotifier(deps: NotifierDeps): Notifier {
  const { settings, orm, store } = deps;
  const send = deps.fetch ?? fetch;
  const backoff = deps.backoffMs ?? ((retry: number) => 1000 * 2 ** (retry - 1));
  const redact = createRedactor([...settings.sinks.flatMap(sinkSecrets), ...(deps.secrets ?? [])]);
  const started = new Set<number>();
  const inFlight = new Set<Promise<void>>();
  /** Per sink and run: the end waits for the start (a Gitea status must not go back to pending). */
  const chains = new Map<string, Promise<void>>();

  const record = (runId: number, sink: Sink, event: NotifyEvent, attempt: number, outcome: { ok: boolean; httpStatus: number | null; error: string | null; ms: number }) =>
    orm.em.fork().insert(NotificationAttempt, {
      run: runId, sink: describeSink(sink), event, attempt, status: outcome.ok ? 'success' : 'failure',
      http_status: outcome.httpStatus, error: outcome.error === null ? null : redact(outcome.error), sent_at: new Date(), duration_ms: outcome.ms,
    });

  const deliver = async (sink: Sink, request: SinkRequest, runId: number, event: NotifyEvent) => {
    for (let attempt = 1; attempt <= settings.retries + 1; attempt++) {
      const t0 = performance.now();
      let outcome: { ok: boolean; httpStatus: number | null; error: string | null };
      try {
        const response = await send(request.url, { method: request.method, headers: request.headers, body: request.body, signal: AbortSignal.timeout(settings.timeoutMs), redirect: 'error' });
        await response.arrayBuffer().catch(() => undefined);
        outcome = { ok: response.ok, httpStatus: response.status, error: response.ok ? null : `HTTP ${response.status}` };
      } catch (error) {
        outcome = { ok: false, httpStatus: null, error: describeFailure(error, settings.timeoutMs) };
      }
      await record(runId, sink, event, attempt, { ...outcome, ms: Math.round(performance.now() - t0) }).catch(() => undefined);
      if (outcome.ok) return;
      if (attempt <= settings.retries) await sleep(backoff(attempt));
    }
  };

  const notify = (runId: number, event: NotifyEvent, app: string) => {
    const sinks = settings.sinks.filter((sink) => sink.on.includes(event) && (!sink.apps || sink.apps.includes(app)));
    if (sinks.length === 0) return;
    const run = store.findRun(runId, 0);
    sinks.forEach((sink, i) => {
      const key = `${i}:${runId}`;
      const work = (chains.get(key) ?? Promise.resolve()).then(async () => {
        const view = await run;
        if (!view) return;
        const facts = factsOf(view, event, deps);
        const request = sinkRequest(sink, { ...facts, error: facts.error === null ? null : redact(facts.error) }, view.repository);
        if (request) await deliver(sink, request, runId, event);
      }).catch(() => undefined); // a sink never fails anything
      chains.set(key, work);
      inFlight.add(work);
      void work.then(() => {
        inFlight.delete(work);
        if (chains.get(key) === work) chains.delete(key);
      });
    });
  };

  return {
    observe: (subscribe) => subscribe((event) => {
      if (event.type !== 'run') return;
      if (event.status === 'running') {
        started.add(event.run_id);
        notify(event.run_id, 'start', event.app);
      } else if (isFinished(event.status)) {
        // Runs that never started (superseded, cancelled while queued) are not news; skipped ones are.
        const wasStarted = started.delete(event.run_id);
        if (wasStarted || event.status === 'skipped') notify(event.run_id, 'end', event.app);
      }
    }),
    drain: async (ms) => {
      const timer = sleep(ms, undefined, { ref: false });
      await Promise.race([Promise.all([...inFlight]), timer]);
    },
  };
}

function describeFailure(error: unknown, timeoutMs: number): string {
  const name = (error as Error | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError') return `timed out after ${timeoutMs / 1000}s`;
  const cause = (error as { cause?: { code?: string; message?: string } } | null)?.cause;
  return cause?.code ?? cause?.message ?? (error as Error)?.message ?? String(error);
}
