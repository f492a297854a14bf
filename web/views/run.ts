// One run: its facts, the strategy's step DAG lit live, a Gantt timeline, and each step's output streaming.
import { api, streamRun, type PipelineGraph, type RunEvent, type RunView, type StepStatus, type StepView } from '../api.ts';
import { layoutDag, NODE } from '../dag.ts';
import { h, replace, svg } from '../dom.ts';
import { describeRunStatus, formatAgo, formatDuration, isActive, stepState, supersededBy, TRIGGER_LABELS } from '../format.ts';
import type { ViewContext } from '../main.ts';

const MAX_OUTPUT_NODES = 4000;
const isAbort = (error: unknown) => (error as Error)?.name === 'AbortError';

/** A step only moves forward (pending → running → an end): an older answer never undoes a newer event. */
const stepRank = (status: StepStatus) => (status === 'pending' ? 0 : status === 'running' ? 1 : 2);
const runRank = (status: RunView['status']) => (status === 'queued' ? 0 : status === 'running' ? 1 : 2);
const ranIt = (status: StepStatus | undefined) => status === 'running' || status === 'success' || status === 'failure' || status === 'cancelled';

interface OutputPane {
  details: HTMLDetailsElement;
  summary: HTMLElement;
  pre: HTMLPreElement;
  error: HTMLElement;
}

function drawDag(graph: PipelineGraph, steps: Map<string, StepView>): SVGSVGElement {
  const layout = layoutDag(graph, [...steps.keys()]);
  const status = (id: string): StepStatus => steps.get(id)?.status ?? 'pending';
  const compensationRan = graph.compensation.some((id) => ranIt(status(id)));
  const box = layout.compensationBox;
  return svg('svg', {
    class: 'dag', viewBox: `0 0 ${layout.width} ${layout.height}`, width: layout.width, height: layout.height,
    role: 'group', 'aria-label': 'pipeline steps',
  },
    box && svg('g', { class: `comp-box${compensationRan ? ' lit' : ''}`, 'data-lit': String(compensationRan) },
      svg('rect', { x: box.x, y: box.y, width: box.width, height: box.height, rx: 10 }),
      svg('text', { x: box.x + 8, y: box.y + 15 }, compensationRan ? 'compensation: ran after a failure' : 'compensation: only on failure'),
    ),
    layout.edges.map((edge) => {
      const lit = edge.kind === 'failure' ? status(edge.from) === 'failure' && ranIt(status(edge.to)) : status(edge.from) === 'success' && status(edge.to) !== 'pending' && status(edge.to) !== 'skipped';
      return svg('path', { class: `edge ${edge.kind}${lit ? ' lit' : ''}`, d: edge.path });
    }),
    layout.nodes.map((node) => {
      const step = steps.get(node.id);
      const s = status(node.id);
      const [icon, label] = stepState(s);
      const lit = !node.compensation || ranIt(s);
      const detail = step?.duration_ms != null ? ` · ${formatDuration(step.duration_ms)}` : '';
      return svg('g', {
        class: `node ${s}${node.compensation ? ' comp' : ''}${lit ? ' lit' : ' dim'}`, transform: `translate(${node.x},${node.y})`,
        'data-step': node.id, 'data-status': s, 'data-lit': String(lit),
      },
        svg('title', null, `${node.id}: ${label}${step?.error ? ` — ${step.error}` : ''}`),
        svg('rect', { width: NODE.width, height: NODE.height, rx: 8 }),
        svg('text', { class: 'name', x: 10, y: 19 }, node.id),
        svg('text', { class: 'state', x: 10, y: 37 }, `${icon} ${label}${detail}`),
      );
    }),
  );
}

function drawGantt(order: string[], steps: Map<string, StepView>, now: number): HTMLElement {
  const started = order.map((id) => steps.get(id)).filter((s): s is StepView => Boolean(s?.started_at));
  if (!started.length) return h('p', { class: 'empty' }, 'No step has started yet.');
  const startOf = (s: StepView) => Date.parse(s.started_at!);
  const endOf = (s: StepView) => (s.duration_ms != null ? startOf(s) + s.duration_ms : s.status === 'running' ? Math.max(now, startOf(s)) : startOf(s));
  const origin = Math.min(...started.map(startOf));
  const total = Math.max(1, ...started.map((s) => endOf(s) - origin));
  return h('div', { class: 'gantt', role: 'list' },
    started.map((s) => {
      const bar = h('span', { class: `bar ${s.status}` });
      bar.style.left = `${((startOf(s) - origin) / total) * 100}%`;
      bar.style.width = `${Math.max(0.5, ((endOf(s) - startOf(s)) / total) * 100)}%`;
      const [icon, label] = stepState(s.status);
      return h('div', { class: 'gantt-row', role: 'listitem', 'data-step': s.step },
        h('span', { class: 'label' }, s.step),
        h('span', { class: 'track', title: `${s.step}: ${label}, +${formatDuration(startOf(s) - origin)}` }, bar),
        h('span', { class: 'num' }, `${icon} ${formatDuration(endOf(s) - startOf(s))}`),
      );
    }),
    h('div', { class: 'gantt-axis' }, h('span', null, '0'), h('span', null, formatDuration(total))),
  );
}

export function renderRun(context: ViewContext, id: number): HTMLElement {
  let run: RunView | null = null;
  let graph: PipelineGraph | null = null;
  let superseded: RunView[] = [];
  let cancelling = false;
  const steps = new Map<string, StepView>();
  const panes = new Map<string, OutputPane>();

  const head = h('div', { class: 'run-head' }, h('p', { class: 'loading' }, `Loading run #${id}…`));
  const dagBox = h('div', { class: 'dag-wrap' });
  const gantt = h('div', { class: 'gantt-wrap' });
  const outputs = h('div', { class: 'outputs' });
  const view = h('section', { class: 'view run', 'data-view': 'run', 'data-run': id },
    head,
    h('h2', null, 'Steps'), dagBox,
    h('h2', null, 'Timeline'), gantt,
    h('h2', null, 'Output'), outputs,
  );

  const order = () => [...(graph?.steps.map((s) => s.id) ?? []), ...[...steps.keys()].filter((s) => !graph?.steps.some((g) => g.id === s))];

  const mergeStep = (update: Partial<StepView> & { step: string; status: StepStatus }) => {
    const known = steps.get(update.step);
    if (known && stepRank(update.status) < stepRank(known.status)) return;
    const defined = Object.fromEntries(Object.entries(update).filter(([, v]) => v !== undefined && v !== null));
    const merged: StepView = { step: update.step, status: update.status, started_at: null, duration_ms: null, exit_code: null, error: null, output: '', ...known, ...defined };
    if (merged.status === 'running' && !merged.started_at) merged.started_at = new Date().toISOString();
    steps.set(update.step, merged);
  };

  const pane = (step: string): OutputPane => {
    let found = panes.get(step);
    if (!found) {
      const summary = h('summary');
      const pre = h('pre', { class: 'output', tabindex: 0 });
      const error = h('p', { class: 'step-error' });
      const details = h('details', { 'data-step': step }, summary, pre, error);
      found = { details, summary, pre, error };
      panes.set(step, found);
    }
    return found;
  };

  const appendOutput = (step: string, text: string) => {
    const { pre } = pane(step);
    const follow = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 24;
    pre.append(text);
    while (pre.childNodes.length > MAX_OUTPUT_NODES) pre.firstChild!.remove();
    if (follow) pre.scrollTop = pre.scrollHeight;
  };

  const drawHead = () => {
    if (!run) return;
    const state = describeRunStatus(run);
    const by = supersededBy(run.error);
    const fact = (term: string, ...value: (Node | string | null)[]) => [h('dt', null, term), h('dd', null, ...value)];
    const cancel = isActive(run.status)
      ? h('button', { type: 'button', class: 'danger', 'data-action': 'cancel', disabled: cancelling, onclick: async () => {
          if (!(await context.confirm(`Cancel run #${id}?`, `Stops ${run!.app} on ${run!.host}: the running step's commands are killed.`, 'Cancel the run'))) return;
          cancelling = true;
          drawHead();
          try {
            await api.cancel(id);
          } catch (error) {
            cancelling = false;
            drawHead();
            context.report(error);
          }
        } }, cancelling ? 'Cancelling…' : 'Cancel run')
      : null;
    replace(head,
      h('div', { class: 'title-row' },
        h('h1', null, `Run #${run.id} `, h('span', { class: 'target' }, run.app, h('span', { class: 'at' }, ' @ '), run.host)),
        h('span', { class: `badge big ${state.css}`, 'data-run-status': run.status }, `${state.icon} ${state.label}`),
        cancel,
      ),
      h('dl', { class: 'facts' },
        fact('strategy', run.strategy),
        fact('trigger', TRIGGER_LABELS[run.trigger] ?? run.trigger),
        fact('ref', run.ref ?? '–'),
        fact('commit', run.commit ? h('code', null, run.commit) : '–'),
        fact('queued', h('span', { title: run.queued_at }, formatAgo(run.queued_at))),
        fact('took', formatDuration(run.duration_ms)),
        run.failed_step ? fact('failed at', run.failed_step) : null,
        run.rolled_back ? fact('rolled back', 'yes: the previous version is serving again') : null,
        run.trace_url ? fact('trace', h('a', { href: run.trace_url, rel: 'noreferrer noopener', target: '_blank' }, `trace ${run.trace_id?.slice(0, 12)}…`)) : null,
        by ? fact('superseded by', h('a', { href: `#/runs/${by}` }, `run #${by}`), ' (a newer request for the same target)') : null,
        superseded.length ? fact('replaced requests', ...superseded.flatMap((r, i) => [i ? ', ' : '', h('a', { href: `#/runs/${r.id}` }, `#${r.id}`)])) : null,
      ),
      run.error && !by ? h('p', { class: 'run-error' }, h('strong', null, 'error: '), run.error) : null,
    );
  };

  const drawSteps = () => {
    if (!run) return;
    if (graph) replace(dagBox, drawDag(graph, steps));
    else replace(dagBox, h('p', { class: 'empty' }, `No pipeline description for strategy ${run.strategy}.`));
    replace(gantt, drawGantt(order(), steps, Date.now()));
    const ids = order();
    for (const step of ids) {
      const { details, summary, error } = pane(step);
      const s = steps.get(step);
      const status = s?.status ?? 'pending';
      const [icon, label] = stepState(status);
      details.className = `step-output ${status}`;
      details.dataset.status = status;
      replace(summary, h('span', { class: 'state' }, icon), ` ${step} `, h('span', { class: 'hint' }, `${label}${s?.duration_ms != null ? ` · ${formatDuration(s.duration_ms)}` : ''}${s?.exit_code != null ? ` · exit ${s.exit_code}` : ''}`));
      error.textContent = s?.error && status !== 'skipped' ? s.error : '';
      if ((status === 'running' || status === 'failure') && details.dataset.opened !== status) {
        details.open = true;
        details.dataset.opened = status;
      }
    }
    if (outputs.childElementCount !== ids.length) replace(outputs, ids.map((step) => pane(step).details));
  };

  let frame = 0;
  const redraw = () => {
    if (frame) return;
    frame = requestAnimationFrame(() => {
      frame = 0;
      drawHead();
      drawSteps();
    });
  };

  const applyRun = (fresh: RunView, withOutput: boolean) => {
    if (run && runRank(fresh.status) < runRank(run.status)) fresh = { ...fresh, status: run.status };
    run = fresh;
    for (const step of fresh.steps) {
      mergeStep(step);
      if (withOutput && step.output) {
        pane(step.step).pre.replaceChildren(step.output.endsWith('\n') ? step.output : `${step.output}\n`);
      }
    }
    redraw();
  };

  const loadSuperseded = async () => {
    if (!run) return;
    const earlier = await api.runs({ app: run.app, limit: 200 }, context.signal);
    superseded = earlier.filter((r) => r.host === run!.host && supersededBy(r.error) === id);
    redraw();
  };

  let refetchTimer: ReturnType<typeof setTimeout> | undefined;
  const refetch = (delay: number) => {
    clearTimeout(refetchTimer);
    refetchTimer = setTimeout(() => {
      api.run(id, context.signal).then((fresh) => applyRun(fresh, false), context.report);
    }, delay);
  };

  const onEvent = (event: RunEvent) => {
    if (!run) return;
    if (event.type === 'output') return appendOutput(event.step, `${event.line}\n`);
    if (event.type === 'step') {
      mergeStep({ step: event.step, status: event.status, duration_ms: event.duration_ms, exit_code: event.exit_code, error: event.error });
      // Drawn at once, not on the next frame: every state a node passes through is shown, however short.
      drawSteps();
      refetch(300); // timestamps and errors as the server recorded them
    } else if (event.type === 'run') {
      if (runRank(event.status) >= runRank(run.status)) run = { ...run, status: event.status, trace_id: event.trace_id ?? run.trace_id };
    } else if (event.type === 'result') {
      run = { ...run, status: event.status, failed_step: event.failed_step, error: event.error, duration_ms: event.duration_ms, rolled_back: event.rolled_back };
      cancelling = false;
      refetch(0);
      void loadSuperseded().catch(context.report);
    }
    redraw();
  };

  const follow = async () => {
    while (run && isActive(run.status) && !context.signal.aborted) {
      try {
        // The stream replays what already happened: steps and output start again from it.
        const restart = () => {
          steps.clear();
          panes.forEach((p) => p.pre.replaceChildren());
        };
        await streamRun(id, { onOpen: restart, onEvent }, context.signal);
      } catch (error) {
        if (isAbort(error)) return;
        context.report(error);
      }
      if (run && isActive(run.status)) await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  };

  const ticker = setInterval(() => {
    if (run && isActive(run.status)) replace(gantt, drawGantt(order(), steps, Date.now()));
  }, 250);
  context.signal.addEventListener('abort', () => {
    clearInterval(ticker);
    clearTimeout(refetchTimer);
    cancelAnimationFrame(frame);
  });

  void (async () => {
    try {
      const [fresh, pipelines] = await Promise.all([api.run(id, context.signal), context.pipelines()]);
      const forStrategy = pipelines[fresh.strategy];
      graph = forStrategy ? (fresh.trigger === 'rollback' ? forStrategy.rollback : forStrategy.deploy) : null;
      applyRun(fresh, true);
      view.dataset.ready = 'true';
      void loadSuperseded().catch(context.report);
      await follow();
    } catch (error) {
      context.report(error);
      if (!run) replace(head, h('h1', null, `Run #${id}`), h('p', { class: 'empty' }, 'This run could not be loaded.'));
    }
  })();
  return view;
}
