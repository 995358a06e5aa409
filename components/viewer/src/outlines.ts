// Cluster outlines and regions of interest drawn by the reader on the editable panel
// (Annotate): a freehand lasso (press, draw, release closes it), select by clicking inside,
// relabel with the label keys, Delete removes, Ctrl+Z undoes; all in the browser. They
// reach Python only with Save, beside the marks (``outlines`` of the save event), and
// the store (EditSession) stays their single source of truth.

import { tag } from "./labels";
import { rebase } from "./rebase";

export type Point = [number, number]; // (row, col) in the panel's pixel grid
export interface Outline {
  id: string;
  kind: string; // cluster / roi
  label: string;
  points: Point[];
}
export interface OutlineHost {
  root: HTMLDivElement;
  toCanvas(i: number, row: number, col: number): [number, number] | null;
  toImage(i: number, x: number, y: number): Point | null;
  editable(i: number): { rows: number; cols: number } | null; // the editable panel's size
  tool(): string;
  label(): string; // label of a new outline
  redraw(): void;
}

const KIND_DASH: Record<string, number[]> = { cluster: [], roi: [6, 4] };
const MAX_VERTICES = 80;
let outlines: Outline[] = [];
let undo: Outline[][] = [];
let selected: string | null = null;
let kind = "cluster";
let drawing: Point[] | null = null;
let drawingPanel = -1;
let counter = 0;

export function copy(list: Outline[]): Outline[] {
  return list.map((o) => ({ ...o, points: o.points.map((p) => [p[0], p[1]] as Point) }));
}
function pushUndo(): void {
  undo.push(copy(outlines));
  if (undo.length > 200) undo.shift();
}

/** The editable panel's outlines from Python (a new image, or after a save). */
export function loadOutlines(list: Outline[] | undefined): void {
  outlines = copy(list ?? []);
  undo = [];
  selected = null;
  drawing = null;
}

/** The reader's outlines and each step of their undo, edited from `loaded`, carried onto
 * `now`, the outlines the page changed them to (rebase.ts). */
export function rebaseOutlines(loaded: Outline[], now: Outline[]): void {
  outlines = copy(rebase(loaded, outlines, copy(now)));
  undo = undo.map((u) => copy(rebase(loaded, u, copy(now))));
  if (!outlines.some((o) => o.id === selected)) selected = null;
  drawing = null;
}

/** What Save sends beside the marks. */
export function outlinesToSave(): { outlines: Outline[] } {
  return { outlines: copy(outlines) };
}
export function outlineKind(): string {
  return kind;
}
export function setOutlineKind(next: string): void {
  kind = next;
}

function inside(poly: [number, number][], x: number, y: number): boolean {
  let on = false;
  for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
    const [xa, ya] = poly[a];
    const [xb, yb] = poly[b];
    if (ya > y !== yb > y && x < ((xb - xa) * (y - ya)) / (yb - ya) + xa) on = !on;
  }
  return on;
}
function canvasPoly(i: number, o: { points: Point[] }, host: OutlineHost): [number, number][] {
  const out: [number, number][] = [];
  for (const [r, c] of o.points) {
    const q = host.toCanvas(i, r, c);
    if (q) out.push(q);
  }
  return out;
}
/** Fewer vertices, the shape kept: every k-th point, at most MAX_VERTICES. */
function thin(points: Point[]): Point[] {
  const step = Math.max(1, Math.ceil(points.length / MAX_VERTICES));
  return points.filter((_, k) => k % step === 0);
}

/** Mouse down on panel ``i`` with the outline tool: select the outline clicked inside, or
 * draw a new one (release closes it). Returns whether the event was used. */
export function onOutlineDown(i: number, ev: MouseEvent, host: OutlineHost): boolean {
  const size = host.editable(i);
  if (host.tool() !== "outline" || ev.button !== 0 || !size) return false;
  const el = ev.currentTarget as HTMLElement;
  const rect = el.getBoundingClientRect();
  const x = ev.clientX - rect.left;
  const y = ev.clientY - rect.top;
  ev.preventDefault();
  ev.stopPropagation();
  const clamp = (p: Point): Point => [
    Math.min(Math.max(p[0], 0), size.rows - 1),
    Math.min(Math.max(p[1], 0), size.cols - 1),
  ];
  const start = host.toImage(i, x, y);
  if (!start) return true;
  drawing = [clamp(start)];
  drawingPanel = i;
  let last: [number, number] = [x, y];
  const move = (e: MouseEvent) => {
    const cx = e.clientX - rect.left;
    const cy = e.clientY - rect.top;
    if (!drawing || Math.hypot(cx - last[0], cy - last[1]) < 3) return;
    const p = host.toImage(i, cx, cy);
    if (!p) return;
    drawing.push(clamp(p));
    last = [cx, cy];
    host.redraw();
  };
  const up = () => {
    window.removeEventListener("mousemove", move, true);
    window.removeEventListener("mouseup", up, true);
    const pts = drawing ?? [];
    drawing = null;
    if (pts.length < 3) {
      // A click: select the outline under it (the smallest), or clear the selection.
      const hits = outlines.filter((o) => inside(canvasPoly(i, o, host), x, y));
      hits.sort((a, b) => a.points.length - b.points.length);
      selected = hits.length ? hits[0].id : null;
    } else {
      pushUndo();
      counter += 1;
      const o = { id: `new-${Date.now()}-${counter}`, kind, label: host.label(), points: thin(pts) };
      outlines.push(o);
      selected = o.id;
    }
    host.redraw();
  };
  window.addEventListener("mousemove", move, true);
  window.addEventListener("mouseup", up, true);
  return true;
}

/** The reader's outlines (and the one being drawn) on the editable panel ``i``. */
export function drawOutlines(
  i: number,
  ctx: CanvasRenderingContext2D,
  host: OutlineHost,
  colours: Record<string, string>,
  letters: Record<string, string> = {},
): void {
  if (!host.editable(i)) return;
  ctx.save();
  for (const o of outlines) {
    const poly = canvasPoly(i, o, host);
    if (poly.length < 3) continue;
    ctx.strokeStyle = colours[o.label] ?? "#fff";
    ctx.lineWidth = o.id === selected ? 3 : 1.8;
    ctx.setLineDash(KIND_DASH[o.kind] ?? []);
    ctx.beginPath();
    poly.forEach(([x, y], k) => (k === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
    ctx.closePath();
    ctx.stroke();
    // The label as a letter too, at the outline's top (not by colour alone).
    const top = poly.reduce((a, b) => (b[1] < a[1] ? b : a));
    if (letters[o.label]) tag(ctx, top[0] + 4, top[1] - 4, letters[o.label], colours[o.label] ?? "#fff");
  }
  if (drawing && drawingPanel === i) {
    const poly = canvasPoly(i, { points: drawing }, host);
    ctx.strokeStyle = colours[host.label()] ?? "#fff";
    ctx.lineWidth = 1.5;
    ctx.setLineDash(KIND_DASH[kind] ?? []);
    ctx.beginPath();
    poly.forEach(([x, y], k) => (k === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
    ctx.stroke();
  }
  ctx.restore();
}

/** Delete the selected outline; false when none is selected. */
export function deleteOutline(): boolean {
  if (!selected) return false;
  pushUndo();
  outlines = outlines.filter((o) => o.id !== selected);
  selected = null;
  return true;
}
/** Undo the last outline edit; false when there is none. */
export function undoOutline(): boolean {
  const prev = undo.pop();
  if (!prev) return false;
  outlines = prev;
  if (!outlines.some((o) => o.id === selected)) selected = null;
  return true;
}
/** Relabel the selected outline; false when none is selected. */
export function relabelOutline(label: string): boolean {
  const o = outlines.find((x) => x.id === selected);
  if (!o) return false;
  pushUndo();
  o.label = label;
  return true;
}

export const OUTLINE_HELP: [string, string][] = [
  ["C", "outline tool (press C again: cluster ⇄ ROI); drag to draw, click inside to select"],
];

/** The outlines' state for tests. */
export function publishOutlines(d: DOMStringMap): void {
  d.outlines = String(outlines.length);
  d.outlineKind = kind;
  d.selectedOutline = selected ?? "";
}
