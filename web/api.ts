// Everything the page knows about the wire: routes, shapes, the token header, and how SSE is read.
// The rest of web/ sees only the types below (snake_case, as after the house issue's one shape of a run).
import { readToken } from './auth.ts';

// The server's own types (src/engine/run-view.ts, src/domain/vocabulary.ts: no dependencies), so that
// the page cannot drift from what the API sends.
import type { RunStatus, StepStatus, Trigger } from '../src/domain/vocabulary.ts';
import type { HistoryRun, RunView as ServerRunView, StepView } from '../src/engine/run-view.ts';

export type { RunStatus, StepStatus, StepView, Trigger };

export interface TargetView {
  app: string;
  host: string;
  strategy: string;
  branch: string;
  port: number;
  health: string;
  remote_dir: string;
  repo: string;
  build_cmd: string;
}

/** A run as /api/logs and /api/runs/:id send it: the server's RunView and its trace link. */
export type RunView = ServerRunView & { trace_url: string | null };

/** A run without its steps (`/api/target-history`: the grid's last runs of each target). */
export type RunSummary = HistoryRun;

export interface PipelineGraph {
  steps: { id: string; needs: string[]; onFailureOf?: string[] }[];
  edges: [string, string][];
  failureEdges: [string, string][];
  /** The compensation path: steps that run only after a failure. */
  compensation: string[];
}

export type Pipelines = Record<string, { deploy: PipelineGraph; rollback: PipelineGraph }>;

export type RunEvent =
  | { type: 'run'; run_id: number; app: string; host: string; status: RunStatus; trace_id?: string | null }
  | { type: 'step'; run_id: number; step: string; status: StepStatus; duration_ms?: number | null; exit_code?: number | null; error?: string | null }
  | { type: 'output'; run_id: number; step: string; line: string }
  | { type: 'result'; id: number; status: RunStatus; failed_step: string | null; error: string | null; duration_ms: number | null; trace_id: string | null; rolled_back: boolean };

export type RunChange = Extract<RunEvent, { type: 'run' }>;

export class ApiError extends Error {
  override name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly write: boolean,
  ) {
    super(message);
  }
}


function normalizeRun(raw: Record<string, unknown>): RunView {
  const run = raw as unknown as RunView;
  return { ...run, rolled_back: Boolean(run.rolled_back), trace_url: run.trace_url ?? null, steps: run.steps ?? [] };
}

function headers(extra: Record<string, string> = {}): Record<string, string> {
  const token = readToken();
  return { ...extra, ...(token ? { authorization: `Bearer ${token}` } : {}) };
}

async function failure(response: Response, write: boolean): Promise<ApiError> {
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body = (await response.json()) as { error?: unknown };
    if (typeof body.error === 'string') message = body.error;
  } catch {
    // not JSON: keep the status text
  }
  return new ApiError(response.status, message, write);
}

async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const response = await fetch(path, { headers: headers({ accept: 'application/json' }), signal });
  if (!response.ok) throw await failure(response, false);
  return (await response.json()) as T;
}

async function postJson<T>(path: string, body: unknown): Promise<T> {
  const response = await fetch(path, { method: 'POST', headers: headers({ 'content-type': 'application/json', accept: 'application/json' }), body: JSON.stringify(body ?? {}) });
  if (!response.ok) throw await failure(response, true);
  return (await response.json()) as T;
}

const enc = encodeURIComponent;

interface Queued {
  app: string;
  host: string;
  run_id: number;
}
const queuedRuns = (body: { queued: Record<string, unknown>[] }): Queued[] => body.queued as unknown as Queued[];

export const api = {
  targets: (signal?: AbortSignal) => getJson<TargetView[]>('/api/targets', signal),
  targetHistory: (limit: number, signal?: AbortSignal) =>
    getJson<Record<string, unknown>[]>(`/api/target-history?limit=${limit}`, signal).then((runs) => runs as unknown as RunSummary[]),
  runs: async (options: { app?: string; limit: number }, signal?: AbortSignal) =>
    (await getJson<Record<string, unknown>[]>(options.app ? `/api/logs/${enc(options.app)}?limit=${options.limit}` : `/api/logs?limit=${options.limit}`, signal)).map(normalizeRun),
  run: async (id: number, signal?: AbortSignal) => normalizeRun(await getJson<Record<string, unknown>>(`/api/runs/${id}`, signal)),
  pipelines: (signal?: AbortSignal) => getJson<Pipelines>('/api/pipelines', signal),
  deploy: async (app: string, host: string) => queuedRuns(await postJson(`/api/deploy/${enc(app)}`, { host })),
  rollback: async (app: string, host: string, to?: number) => queuedRuns(await postJson(`/api/rollback/${enc(app)}`, { host, ...(to ? { to } : {}) })),
  cancel: (id: number) => postJson<unknown>(`/api/runs/${id}/cancel`, {}),
};

function toEvent(type: string, data: string): RunEvent | null {
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(data) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (type === 'result') parsed = { ...parsed, rolled_back: Boolean(parsed.rolled_back) };
  if (!['run', 'step', 'output', 'result'].includes(type)) return null;
  return { type, ...parsed } as RunEvent;
}

/**
 * Reads a Server-Sent Events stream with fetch (EventSource cannot send an Authorization header, and the
 * token must never be in a URL). Resolves when the server ends the stream; `onOpen` runs once the
 * server has answered, before any event.
 */
async function readEvents(path: string, handlers: { onOpen?: () => void; onEvent: (event: RunEvent) => void }, signal: AbortSignal): Promise<void> {
  const response = await fetch(path, { headers: headers({ accept: 'text/event-stream' }), signal, cache: 'no-store' });
  if (!response.ok || !response.body) throw await failure(response, false);
  handlers.onOpen?.();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let type = 'message';
      const data: string[] = [];
      for (const line of frame.split('\n')) {
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const content = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') type = content;
        else if (field === 'data') data.push(content);
      }
      const event = data.length ? toEvent(type, data.join('\n')) : null;
      if (event) handlers.onEvent(event);
    }
  }
}

/** One run's events: what already happened first, then live, ending with `result`. */
export function streamRun(id: number, handlers: { onOpen?: () => void; onEvent: (event: RunEvent) => void }, signal: AbortSignal): Promise<void> {
  return readEvents(`/api/runs/${id}/events`, handlers, signal);
}

/** Run-level changes of every run (this server's and other processes'), until aborted. */
export function streamRunChanges(handlers: { onOpen?: () => void; onEvent: (event: RunChange) => void }, signal: AbortSignal): Promise<void> {
  return readEvents('/api/events', { onOpen: handlers.onOpen, onEvent: (event) => event.type === 'run' && handlers.onEvent(event) }, signal);
}
