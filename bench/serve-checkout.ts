// `deploy_server serve` of a checkout (this tree, or an older one for a before/after), on a free
// loopback port, for the benches that measure a real server; and deploying through its API.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface ServedCheckout {
  url: string;
  child: ChildProcess;
  /** VmRSS (now) or VmHWM (the peak so far) of the server, in MiB. */
  memoryMiB: (field: 'VmRSS' | 'VmHWM') => number;
  /** CPU time (user + system) the server process has used so far, in ms (/proc/<pid>/stat). */
  cpuMs: () => number;
}

/** USER_HZ: the unit of utime and stime in /proc/<pid>/stat (100 on Linux). */
const CLOCK_TICKS_PER_S = 100;

/**
 * Starts `serve` from `root`'s sources (src/cli/bin.js) and resolves once it listens. With
 * BENCH_PROFILE_DIR set, serve writes a V8 CPU profile (.cpuprofile) there when it exits.
 */
export function serveCheckout(root: string, env: NodeJS.ProcessEnv): Promise<ServedCheckout> {
  const profileDir = process.env.BENCH_PROFILE_DIR;
  const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(profileDir)}`] : [];
  const child = spawn(process.execPath, [...profile, path.join(root, 'src/cli/bin.js'), 'serve', '--port', '0', '--bind', '127.0.0.1'], { env, cwd: root, stdio: ['ignore', 'pipe', 'ignore'] });
  const memoryMiB = (field: 'VmRSS' | 'VmHWM') => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) / 1024;
  const cpuMs = () => {
    const stat = fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // fields[0] is field 3 (state)
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS_PER_S; // utime, stime
  };
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk) => {
      out += chunk;
      const match = /listening on (http:\/\/[^ ]+)/.exec(out);
      if (match) resolve({ url: match[1], child, memoryMiB, cpuMs });
    });
    child.once('exit', () => reject(new Error(`serve exited: ${out}`)));
  });
}

/** One event of a run's stream (GET /api/runs/:id/events), with when it arrived (performance.now()). */
export interface ArrivedEvent {
  at: number;
  event: string;
  data: Record<string, unknown>;
}

/** `POST /api/deploy/:app` (every host of the app, or `host`): the queued runs' ids. */
export async function requestDeployThroughApi(url: string, token: string, app: string, host?: string): Promise<number[]> {
  const response = await fetch(`${url}/api/deploy/${app}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(host === undefined ? {} : { host }),
  });
  if (response.status !== 202) throw new Error(`POST /api/deploy/${app}: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { queued: { run_id: number }[] }).queued.map((run) => run.run_id);
}

/** Follows a run's event stream until its `result`: every event with its arrival time, the result last. */
export async function followRun(url: string, token: string, runId: number): Promise<ArrivedEvent[]> {
  const response = await fetch(`${url}/api/runs/${runId}/events`, { headers: { authorization: `Bearer ${token}` } });
  if (response.status !== 200 || !response.body) throw new Error(`GET /api/runs/${runId}/events: ${response.status}`);
  const events: ArrivedEvent[] = [];
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of response.body) {
    buffered += decoder.decode(chunk, { stream: true });
    for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
      const data = /^data: (.*)$/m.exec(block)?.[1];
      events.push({ at: performance.now(), event, data: data === undefined ? {} : JSON.parse(data) });
      if (event === 'result') return events;
    }
  }
  throw new Error(`run #${runId}: the event stream ended before its result`);
}
