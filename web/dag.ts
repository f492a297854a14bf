// Layout of a pipeline's step DAG, as plain data (no DOM): rows top to bottom by longest path, the steps
// of a row (parallel branches) side by side, the compensation path in a column of its own on the right.
import type { PipelineGraph } from './api.ts';

export interface PlacedNode {
  id: string;
  x: number;
  y: number;
  compensation: boolean;
}

export interface PlacedEdge {
  from: string;
  to: string;
  /** `needs`: to waits for from; `failure`: to runs when from failed. */
  kind: 'needs' | 'failure';
  path: string;
}

export interface DagLayout {
  nodes: PlacedNode[];
  edges: PlacedEdge[];
  width: number;
  height: number;
  /** The frame around the compensation path, when the pipeline has one. */
  compensationBox: { x: number; y: number; width: number; height: number } | null;
}

export const NODE = { width: 164, height: 48, gapX: 16, gapY: 30, pad: 12, compensationGap: 44 };

export function layoutDag(graph: PipelineGraph, extraSteps: string[] = []): DagLayout {
  const compensation = new Set(graph.compensation);
  const specs = new Map(graph.steps.map((step) => [step.id, step]));
  // Steps a run has that the pipeline does not describe (an older pipeline): drawn alone, unconnected.
  for (const id of extraSteps) if (!specs.has(id)) specs.set(id, { id, needs: [] });
  const ids = [...specs.keys()];
  const row = new Map<string, number>();
  const rowOf = (id: string, seen = new Set<string>()): number => {
    const known = row.get(id);
    if (known !== undefined) return known;
    if (seen.has(id)) return 0;
    seen.add(id);
    const spec = specs.get(id)!;
    const isCompensation = compensation.has(id);
    const inside = spec.needs.filter((need) => specs.has(need) && compensation.has(need) === isCompensation);
    let r = inside.length ? Math.max(...inside.map((need) => rowOf(need, seen) + 1)) : 0;
    // The compensation path starts level with the first step whose failure sets it off.
    if (isCompensation && !inside.length && spec.onFailureOf?.length) r = Math.min(...spec.onFailureOf.filter((f) => specs.has(f)).map((f) => rowOf(f, seen)));
    row.set(id, r);
    return r;
  };
  ids.forEach((id) => rowOf(id));

  const columns = (group: string[]) => {
    const byRow = new Map<number, string[]>();
    for (const id of group) byRow.set(row.get(id)!, [...(byRow.get(row.get(id)!) ?? []), id]);
    return byRow;
  };
  const main = columns(ids.filter((id) => !compensation.has(id)));
  const side = columns(ids.filter((id) => compensation.has(id)));
  const widest = (rows: Map<number, string[]>) => Math.max(0, ...[...rows.values()].map((r) => r.length));
  const span = (n: number) => (n ? n * NODE.width + (n - 1) * NODE.gapX : 0);
  const mainWidth = span(widest(main));
  const sideWidth = span(widest(side));
  // Room above the rows for the compensation frame's caption.
  const offset = side.size ? 28 : 0;
  const top = (r: number) => NODE.pad + offset + r * (NODE.height + NODE.gapY);

  const nodes: PlacedNode[] = [];
  const place = (rows: Map<number, string[]>, left: number, width: number, isCompensation: boolean) => {
    for (const [r, members] of rows) {
      const start = left + (width - span(members.length)) / 2;
      members.forEach((id, i) => nodes.push({ id, x: start + i * (NODE.width + NODE.gapX), y: top(r), compensation: isCompensation }));
    }
  };
  place(main, NODE.pad, mainWidth, false);
  const sideLeft = NODE.pad + mainWidth + NODE.compensationGap;
  place(side, sideLeft, sideWidth, true);

  const at = new Map(nodes.map((n) => [n.id, n]));
  const edges: PlacedEdge[] = [];
  for (const [from, to] of graph.edges) {
    const a = at.get(from);
    const b = at.get(to);
    // A compensation step's needs on the main path are data dependencies: the failure edges tell the story.
    if (!a || !b || a.compensation !== b.compensation) continue;
    const [x1, y1, x2, y2] = [a.x + NODE.width / 2, a.y + NODE.height, b.x + NODE.width / 2, b.y];
    const bend = (y2 - y1) / 2;
    edges.push({ from, to, kind: 'needs', path: `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}` });
  }
  for (const [from, to] of graph.failureEdges) {
    const a = at.get(from);
    const b = at.get(to);
    if (!a || !b) continue;
    const [x1, y1, x2, y2] = [a.x + NODE.width, a.y + NODE.height / 2, b.x, b.y + NODE.height / 2];
    const bend = (x2 - x1) / 2;
    edges.push({ from, to, kind: 'failure', path: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}` });
  }

  const bottom = Math.max(0, ...nodes.map((n) => n.y + NODE.height)) + NODE.pad;
  const sideNodes = nodes.filter((n) => n.compensation);
  const compensationBox = sideNodes.length
    ? (() => {
        const y = Math.min(...sideNodes.map((n) => n.y)) - 26;
        return { x: sideLeft - 8, y, width: sideWidth + 16, height: Math.max(...sideNodes.map((n) => n.y + NODE.height)) + 8 - y };
      })()
    : null;
  const width = (sideNodes.length ? sideLeft + sideWidth : NODE.pad + mainWidth) + NODE.pad;
  return { nodes, edges, width, height: Math.max(bottom, compensationBox ? compensationBox.y + compensationBox.height + NODE.pad : 0), compensationBox };
}
