// Runs: newest first, live, filtered by app, host, status and trigger (the filters live in the hash).
import { api, type RunView, type Trigger } from '../api.ts';
import { h, replace } from '../dom.ts';
import { describeRunStatus, formatAgo, formatDuration, shortCommit, TRIGGER_LABELS } from '../format.ts';
import type { ViewContext } from '../main.ts';

const LIMIT = 100;
const STATUSES = ['queued', 'running', 'success', 'failure', 'cancelled', 'superseded', 'interrupted', 'skipped'];
const FILTERS = ['app', 'host', 'status', 'trigger'] as const;
type Filter = (typeof FILTERS)[number];

function row(run: RunView): HTMLElement {
  const state = describeRunStatus(run);
  return h('tr', { 'data-run': run.id, 'data-status': state.css },
    h('td', { class: 'id' }, h('a', { href: `#/runs/${run.id}` }, `#${run.id}`)),
    h('td', { class: 'target' }, h('a', { href: `#/runs/${run.id}` }, run.app, h('span', { class: 'at' }, ' @ '), run.host)),
    h('td', null, h('span', { class: `badge ${state.css}` }, `${state.icon} ${state.label}`)),
    h('td', { class: 'trigger' }, TRIGGER_LABELS[run.trigger] ?? run.trigger),
    h('td', { class: 'rev' }, run.commit ? h('code', null, shortCommit(run.commit)) : run.ref ?? '–'),
    h('td', { class: 'num' }, formatDuration(run.duration_ms)),
    h('td', { class: 'when', title: run.queued_at }, formatAgo(run.queued_at)),
    h('td', { class: 'why' }, run.failed_step ? `at ${run.failed_step}` : run.status === 'interrupted' ? 'its process stopped' : run.status === 'skipped' ? (run.error ?? '') : '', run.rolled_back ? ' · rolled back' : ''),
  );
}

export function renderRuns(context: ViewContext): HTMLElement {
  const filters: Record<Filter, string> = { app: '', host: '', status: '', trigger: '' };
  for (const name of FILTERS) filters[name] = context.query.get(name) ?? '';
  let runs: RunView[] = [];
  const body = h('tbody');
  const count = h('p', { class: 'count' });
  const selects = {} as Record<Filter, HTMLSelectElement>;
  const controls = h('div', { class: 'filters' },
    FILTERS.map((name) => {
      selects[name] = h('select', { name, 'aria-label': `filter by ${name}`, onchange: () => {
        filters[name] = selects[name].value;
        const query = new URLSearchParams(Object.entries(filters).filter(([, v]) => v)).toString();
        history.replaceState(null, '', `#/runs${query ? `?${query}` : ''}`);
        if (name === 'app') void load();
        else draw();
      } });
      return h('label', null, h('span', null, name), selects[name]);
    }),
  );
  const table = h('table', { class: 'runs' },
    h('thead', null, h('tr', null, ['run', 'target', 'status', 'trigger', 'commit / ref', 'took', 'queued', ''].map((c) => h('th', null, c)))),
    body,
  );
  const view = h('section', { class: 'view runs', 'data-view': 'runs' }, h('h1', null, 'Runs'), controls, count, h('div', { class: 'table-wrap' }, table));

  const options = (name: Filter, values: string[], label: (v: string) => string = (v) => v) => {
    const current = filters[name];
    const all = [...new Set([...values, ...(current ? [current] : [])])].sort();
    replace(selects[name], h('option', { value: '' }, `all ${name === 'status' ? 'statuses' : `${name}s`}`), all.map((v) => h('option', { value: v, selected: v === current }, label(v))));
  };

  const draw = () => {
    options('app', runs.map((r) => r.app));
    options('host', runs.map((r) => r.host));
    options('status', STATUSES);
    options('trigger', Object.keys(TRIGGER_LABELS), (v) => TRIGGER_LABELS[v as Trigger]);
    const shown = runs.filter((run) =>
      (!filters.host || run.host === filters.host) && (!filters.trigger || run.trigger === filters.trigger) && (!filters.status || describeRunStatus(run).css === filters.status));
    count.textContent = `${shown.length} of the last ${runs.length} runs${filters.app ? ` of ${filters.app}` : ''}`;
    replace(body, shown.length ? shown.map(row) : h('tr', null, h('td', { colspan: 8, class: 'empty' }, 'No runs match.')));
    view.dataset.ready = 'true';
  };

  const load = async () => {
    try {
      runs = await api.runs({ app: filters.app || undefined, limit: LIMIT }, context.signal);
      draw();
    } catch (error) {
      context.report(error);
    }
  };

  // A changed run is read again and put in its place (a new one on top).
  const upsert = async (id: number) => {
    try {
      const run = await api.run(id, context.signal);
      if (filters.app && run.app !== filters.app) return;
      runs = [run, ...runs.filter((r) => r.id !== id)].sort((a, b) => b.id - a.id).slice(0, LIMIT);
      draw();
    } catch (error) {
      context.report(error);
    }
  };
  const waiting = new Map<number, ReturnType<typeof setTimeout>>();
  context.onRunChange((change) => {
    clearTimeout(waiting.get(change.run_id));
    waiting.set(change.run_id, setTimeout(() => {
      waiting.delete(change.run_id);
      void upsert(change.run_id);
    }, 150));
  });
  context.onReconnect(() => void load());
  context.signal.addEventListener('abort', () => waiting.forEach((timer) => clearTimeout(timer)));
  void load();
  return view;
}
