// Where notifications go: the JSON file named by DEPLOY_NOTIFY_FILE (its tokens and secrets stay in
// that file), and the Gitea commit-status sink from DEPLOY_GITEA_URL + DEPLOY_GITEA_TOKEN.
import { readFile } from 'node:fs/promises';
import * as v from 'valibot';

export class NotificationConfigError extends Error {
  override name = 'NotificationConfigError';
}

const Url = (field: string) => v.pipe(v.string(`${field} must be a URL`), v.url(`${field} must be a URL`), v.regex(/^https?:\/\//, `${field} must be an http(s) URL`));
const Common = {
  /** Only these apps' runs (default: every app). */
  apps: v.optional(v.array(v.string('apps must be a list of app names'), 'apps must be a list of app names')),
  /** When to send: `end` (default) and/or `start`. */
  on: v.optional(v.array(v.picklist(['start', 'end'], 'on must list "start" and/or "end"'), 'on must list "start" and/or "end"'), ['end']),
};

const SinkSchema = v.variant('type', [
  v.strictObject({ type: v.literal('webhook'), url: Url('url'), secret: v.pipe(v.string('secret must be a string'), v.minLength(8, 'secret must be at least 8 characters')), ...Common }),
  v.strictObject({ type: v.literal('slack'), url: Url('url'), ...Common }),
  v.strictObject({ type: v.literal('matrix'), homeserver: Url('homeserver'), room: v.pipe(v.string('room must be a room id'), v.regex(/^[!#][^:\s]+:\S+$/, 'room must be a room id like !abc:example.org')), token: v.pipe(v.string('token must be a string'), v.nonEmpty('token must not be empty')), ...Common }),
], 'each sink needs a type: "webhook", "slack" or "matrix"');

const FileSchema = v.strictObject({
  sinks: v.array(SinkSchema, 'sinks must be a list'),
  /** Seconds one attempt may take. */
  timeout_s: v.optional(v.pipe(v.number('timeout_s must be a number'), v.minValue(0.1, 'timeout_s must be at least 0.1'), v.maxValue(120, 'timeout_s must be at most 120')), 10),
  /** Attempts after the first one fails. */
  retries: v.optional(v.pipe(v.number('retries must be a number'), v.integer('retries must be a whole number'), v.minValue(0, 'retries must be 0 to 10'), v.maxValue(10, 'retries must be 0 to 10')), 3),
});

export type WebhookSink = Extract<v.InferOutput<typeof SinkSchema>, { type: 'webhook' }>;
export type SlackSink = Extract<v.InferOutput<typeof SinkSchema>, { type: 'slack' }>;
export type MatrixSink = Extract<v.InferOutput<typeof SinkSchema>, { type: 'matrix' }>;
/** Gitea commit statuses: not in the file, from the environment. */
export interface GiteaSink {
  type: 'gitea';
  url: string;
  token: string;
  apps?: string[];
  on: ('start' | 'end')[];
}
export type Sink = WebhookSink | SlackSink | MatrixSink | GiteaSink;

export interface NotificationSettings {
  sinks: Sink[];
  timeoutMs: number;
  retries: number;
}

/** Every secret a sink holds (URLs of Slack hooks are secrets too): masked in whatever is recorded. */
export function sinkSecrets(sink: Sink): string[] {
  switch (sink.type) {
    case 'webhook': return [sink.url, sink.secret];
    case 'slack': return [sink.url];
    case 'matrix': return [sink.token];
    case 'gitea': return [sink.token];
  }
}

/** `slack hooks.slack.com`: what an attempt is recorded under — the kind and the host, no path, no token. */
export function describeSink(sink: Sink): string {
  const url = sink.type === 'matrix' ? sink.homeserver : sink.url;
  return `${sink.type} ${new URL(url).host}`;
}

/** The sinks from DEPLOY_NOTIFY_FILE (if set) and Gitea (if DEPLOY_GITEA_URL and DEPLOY_GITEA_TOKEN are). */
export async function loadNotificationSettings(env: { notifyFile?: string; giteaUrl?: string; giteaToken?: string }): Promise<NotificationSettings> {
  let file: v.InferOutput<typeof FileSchema> = { sinks: [], timeout_s: 10, retries: 3 };
  if (env.notifyFile) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(env.notifyFile, 'utf8'));
    } catch (error) {
      throw new NotificationConfigError(`DEPLOY_NOTIFY_FILE ${env.notifyFile}: ${(error as Error).message.split('\n')[0]}`);
    }
    const parsed = v.safeParse(FileSchema, json);
    if (!parsed.success) {
      const issue = parsed.issues[0];
      const where = (issue.path ?? []).map((p) => String(p.key)).join('.');
      throw new NotificationConfigError(`DEPLOY_NOTIFY_FILE ${env.notifyFile}: ${where ? `${where}: ` : ''}${issue.expected === 'never' ? 'unknown field' : issue.message}`);
    }
    file = parsed.output;
  }
  const sinks: Sink[] = [...file.sinks];
  if (env.giteaUrl && env.giteaToken) {
    if (!/^https?:\/\//.test(env.giteaUrl)) throw new NotificationConfigError(`DEPLOY_GITEA_URL must be an http(s) URL (got "${env.giteaUrl}")`);
    sinks.push({ type: 'gitea', url: env.giteaUrl.replace(/\/+$/, ''), token: env.giteaToken, on: ['start', 'end'] });
  }
  return { sinks, timeoutMs: file.timeout_s * 1000, retries: file.retries };
}

export type NotifyEvent = 'start' | 'end';

/** An HTTP request to a sink, built apart from sending it. */
export interface SinkRequest {
  method: 'POST' | 'PUT';
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** The facts a message carries; no env value, no token. */
export interface RunFacts {
  event: `run.${NotifyEvent}`;
  app: string;
  host: string;
  run_id: number;
  status: string;
  failed_step: string | null;
  error: string | null;
  commit: string | null;
  ref: string | null;
  duration_ms: number | null;
  trigger: string;
  strategy: string;
  trace_url: string | null;
  /** The run's API page, when DEPLOY_PUBLIC_URL is set. */
  run_url: string | null;
}
