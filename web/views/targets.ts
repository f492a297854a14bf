// Targets: a card per app × host with its last run, a bar chart of recent durations, deploy and rollback.
import { api, type RunSummary, type TargetView } from '../api.ts';
import { h, replace, svg } from '../dom.ts';
import { describeRunStatus, formatAgo, formatDuration, shortCommit } from '../format.ts';
import type { ViewContext } from '../main.ts';

const HISTORY = 20;
let firstRenderMarked = false;

function sparkline(runs: RunSummary[]): SVGSVGElement {
  const bars = runs.slice(0, HISTORY).reverse();
  const longest = Math.max(1, ...bars.map((r) => r.duration_ms ?? 0));
  const [barWidth, gap, height] = [7, 2, 30];
  return svg('svg', { class: 'spark', viewBox: `0 0 ${HISTORY * (barWidth + gap)} ${height}`, preserveAspectRatio: 'xMinYMax meet', role: 'img', 'aria-label': `durations of the last ${bars.length} runs` },
    bars.map((run, i) => {
      const barHeight = run.duration_ms ? Math.max(2, (run.duration_ms / longest) * height) : 2;
      const state = describeRunStatus(run);
      return svg('rect', { class: `bar ${state.css}`, x: i * (barWidth + gap), y: height - barHeight, width: barWidth, height: barHeight, rx: 1 },
        svg('title', null, `#${run.id} ${state.label} ${formatDuration(run.duration_ms)}`));
    }),
  );
}

function card(context: ViewContext, target: TargetView, runs: RunSummary[]): HTMLElement {
  const last = runs[0];
  const state = last ? describeRunStatus(last) : null;
  const act = async (kind: 'deploy' | 'rollback') => {
    const ok = await context.confirm(
      kind === 'deploy' ? `Deploy ${target.app} to ${target.host}?` : `Roll back ${target.app} on ${target.host}?`,
      kind === 'deploy'
        ? `Runs the ${target.strategy} pipeline from branch ${target.branch}.`
        : 'Goes back to the newest earlier release whose deploy succeeded.',
      kind === 'deploy' ? 'Deploy' : 'Roll back',
    );
    if (!ok) return;
    try {
      const [queued] = kind === 'deploy' ? await api.deploy(target.app, target.host) : await api.rollback(target.app, target.host);
      if (queued) location.hash = `#/runs/${queued.run_id}`;
    } catch (error) {
      context.report(error);
    }
  };
  return h('article', { class: 'card target', 'data-app': target.app, 'data-host': target.host },
    h('header', null,
      h('h3', null, target.app, h('span', { class: 'at' }, ' @ '), target.host),
      h('span', { class: 'tag' }, target.strategy),
    ),
    h('p', { class: 'meta' }, `branch ${target.branch}`, target.port ? ` · port ${target.port}` : '', target.health ? ` · ${target.health}` : ''),
    last && state
      ? h('p', { class: 'last' },
          h('a', { class: `badge ${state.css}`, href: `#/runs/${last.id}`, 'data-status': last.status }, `${state.icon} ${state.label}`),
          ' ', h('span', { class: 'when', title: last.finished_at ?? last.queued_at }, formatAgo(last.finished_at ?? last.queued_at)),
          last.commit ? h('code', null, ` ${shortCommit(last.commit)}`) : null,
          ' · ', formatDuration(last.duration_ms),
          last.rolled_back ? h('span', { class: 'note' }, ' · rolled back') : null,
        )
      : h('p', { class: 'last none' }, 'never deployed'),
    sparkline(runs),
    h('div', { class: 'actions' },
      h('button', { type: 'button', class: 'primary', 'data-action': 'deploy', onclick: () => act('deploy') }, 'Deploy'),
      h('button', { type: 'button', 'data-action': 'rollback', onclick: () => act('rollback') }, 'Rollback'),
      h('a', { href: `#/runs?app=${encodeURIComponent(target.app)}&host=${encodeURIComponent(target.host)}` }, 'runs →'),
    ),
  );
}

export function renderTargets(context: ViewContext): HTMLElement {
  const grid = h('div', { class: 'grid' }, h('p', { class: 'loading' }, 'Loading targets…'));
  const view = h('section', { class: 'view targets', 'data-view': 'targets' }, h('h1', null, 'Targets'), grid);
  let targets: TargetView[] = [];

  const draw = (history: RunSummary[]) => {
    const byTarget = new Map<string, RunSummary[]>();
    for (const run of history) byTarget.set(`${run.app}\n${run.host}`, [...(byTarget.get(`${run.app}\n${run.host}`) ?? []), run]);
    if (!targets.length) {
      replace(grid, h('p', { class: 'empty' }, 'No targets yet: add one with ', h('code', null, 'deploy_server target add'), '.'));
    } else {
      // Sorted by app, then host (as the API lists them): an app's hosts sit next to each other.
      replace(grid, targets.map((t) => card(context, t, byTarget.get(`${t.app}\n${t.host}`) ?? [])));
    }
    view.dataset.ready = 'true';
    if (!firstRenderMarked) {
      firstRenderMarked = true;
      performance.mark('dashboard:first-render');
    }
  };

  const load = async () => {
    try {
      const [list, history] = await Promise.all([api.targets(context.signal), api.targetHistory(HISTORY, context.signal)]);
      targets = list;
      draw(history);
    } catch (error) {
      context.report(error);
      if (!view.dataset.ready) replace(grid, h('p', { class: 'empty' }, 'Targets could not be loaded.'));
    }
  };
  let pending: ReturnType<typeof setTimeout> | undefined;
  const reload = () => {
    clearTimeout(pending);
    pending = setTimeout(() => void load(), 250);
  };
  context.onRunChange(reload);
  context.onReconnect(reload);
  // Relative times age: redraw them now and then.
  const ticker = setInterval(() => {
    for (const when of view.querySelectorAll<HTMLElement>('.when')) when.textContent = formatAgo(when.title);
  }, 15_000);
  context.signal.addEventListener('abort', () => {
    clearInterval(ticker);
    clearTimeout(pending);
  });
  void load();
  return view;
}
