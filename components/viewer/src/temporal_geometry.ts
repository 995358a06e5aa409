// Stateless helpers of the temporal modes (src/temporal.ts): the payload's types, the
// recent <-> prior lattice (bilinear, as mcalc.present.reading_temporal.grid_mapping builds
// it), viewport coordinates and the drawing of tracked items and markers.
import * as cs from "@cornerstonejs/core";
import { tag } from "./labels";

export type Point = [number, number]; // (row, col) in a panel's pixel grid
export interface Tracked {
  id: number;
  kind: string; // calcification / cluster
  status: string; // new / stable / grown / resolved
  recent: Point | null; // in the recent panel (a resolved one: its prior spot mapped)
  prior: Point | null; // in the prior panel (a new one: its recent spot mapped)
}
export interface TemporalView {
  view: string;
  recent_key: string;
  prior_key: string;
  rows: number;
  cols: number;
  spacing: [number, number];
  registered: string; // base64 uint16, the recent panel's grid, the recent's values
  subtraction: string; // base64 int16, recent − registered prior
  sub_window: [number, number];
  grid: number; // lattice nodes per side
  prior_rows: number;
  prior_cols: number;
  to_prior: number[]; // recent-panel lattice -> prior panel (row, col), row-major
  to_recent: number[]; // prior-panel lattice -> recent panel
  tracked: Tracked[];
  method: string;
  fallback: string | null;
}
export interface TemporalArgs {
  views: TemporalView[];
  summary: string;
  off?: boolean; // offered (Browse) but not asked for yet: a button asks Python to register
}
export interface Focus {
  view: string;
  key: string;
  recent: Point | null;
  prior: Point | null;
}
// ---- the lattice: bilinear interpolation (mcalc.present.reading_temporal.grid_mapping) ----
export function mapPoint(flat: number[], n: number, rows: number, cols: number, p: Point): Point {
  const u = Math.min(Math.max((p[0] / Math.max(rows - 1, 1)) * (n - 1), 0), n - 1);
  const v = Math.min(Math.max((p[1] / Math.max(cols - 1, 1)) * (n - 1), 0), n - 1);
  const i = Math.min(Math.floor(u), n - 2);
  const j = Math.min(Math.floor(v), n - 2);
  const fu = u - i;
  const fv = v - j;
  const at = (a: number, b: number, k: number) => flat[(a * n + b) * 2 + k];
  const out: number[] = [0, 1].map(
    (k) =>
      at(i, j, k) * (1 - fu) * (1 - fv) +
      at(i, j + 1, k) * (1 - fu) * fv +
      at(i + 1, j, k) * fu * (1 - fv) +
      at(i + 1, j + 1, k) * fu * fv,
  );
  return [out[0], out[1]];
}
export const toPrior = (v: TemporalView, p: Point) => mapPoint(v.to_prior, v.grid, v.rows, v.cols, p);
export const toRecent = (v: TemporalView, p: Point) =>
  mapPoint(v.to_recent, v.grid, v.prior_rows, v.prior_cols, p);

// ---- viewport coordinates ------------------------------------------------------------------
export function canvasPoint(vp: cs.Types.IStackViewport | null, p: Point): [number, number] | null {
  const id = vp?.getCurrentImageId();
  if (!vp || !id) return null;
  const world = cs.utilities.imageToWorldCoords(id, [p[1], p[0]]);
  if (!world) return null;
  const c = vp.worldToCanvas(world);
  return [c[0], c[1]];
}
export function imagePoint(vp: cs.Types.IStackViewport | null, x: number, y: number): Point | null {
  const id = vp?.getCurrentImageId();
  if (!vp || !id) return null;
  const ij = cs.utilities.worldToImageCoords(id, vp.canvasToWorld([x, y]));
  return ij ? [ij[1], ij[0]] : null;
}
/** Centre viewport ``vp`` on ``p`` (its image's row, col), optionally at ``scale`` (mm). */
export function centre(vp: cs.Types.IStackViewport | null, p: Point, scale?: number): void {
  const id = vp?.getCurrentImageId();
  if (!vp || !id) return;
  const world = cs.utilities.imageToWorldCoords(id, [p[1], p[0]]);
  if (!world) return;
  const cam = vp.getCamera();
  const f = cam.focalPoint as number[];
  const pos = cam.position as number[];
  const d = [world[0] - f[0], world[1] - f[1], world[2] - f[2]];
  vp.setCamera({
    focalPoint: [world[0], world[1], world[2]] as cs.Types.Point3,
    position: [pos[0] + d[0], pos[1] + d[1], pos[2] + d[2]] as cs.Types.Point3,
    parallelScale: scale ?? cam.parallelScale,
  });
  vp.render();
}

export function decode(b64: string): Uint8Array {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

// ---- drawing -------------------------------------------------------------------------------
// Stable is not the dataset's cyan: a view without temporal data draws the radiologists'
// marks in cyan, and read as "stable" beside the legend (a user check, 6 December).
export const STATUS_COLOURS: Record<string, string> = {
  new: "#ff3b3b",
  stable: "#8c9eff",
  grown: "#ffa500",
  resolved: "#b0b0b0",
};
// A sign beside each item, so that its status does not rest on colour alone (red new beside
// orange grown is one colour to a protanope or deuteranope); mcalc/present/temporal_figures.py
// STATUS_GLYPHS draws the same.
export const STATUS_GLYPHS: Record<string, string> = {
  new: "+",
  grown: "↑",
  stable: "=",
  resolved: "−",
};
export const MARKER = "#ffeb3b";

/** Item ``t`` at canvas point ``q``: its shape in its status colour and its sign beside it,
 * unless ``signed`` (the items signed so far on this canvas, by anchor) holds one of the same
 * sign within 16 px: at a low zoom a clump of new calcifications has one "+", not a pile of
 * them; ``drawnAt`` (where signs were drawn) keeps signs of other statuses apart. */
export function mark(
  ctx: CanvasRenderingContext2D,
  q: [number, number],
  t: Tracked,
  signed: [number, number, string][] = [],
  drawnAt: [number, number][] = [],
): void {
  const colour = STATUS_COLOURS[t.status] ?? "#fff";
  const r = t.kind === "cluster" ? 14 : 10;
  ctx.strokeStyle = colour;
  ctx.lineWidth = 2;
  ctx.beginPath();
  if (t.kind === "cluster") ctx.rect(q[0] - r, q[1] - r, 2 * r, 2 * r);
  else ctx.arc(q[0], q[1], r, 0, 2 * Math.PI);
  ctx.stroke();
  const glyph = STATUS_GLYPHS[t.status];
  // Right of the item; left of it near the canvas's right edge (an item at the skin line).
  const width = ctx.canvas.clientWidth || ctx.canvas.width;
  const step = q[0] + r + 40 > width ? -10 : 10;
  let x = step > 0 ? q[0] + r + 2 : q[0] - r - 12;
  const y = q[1] - r + 4;
  // One sign per clump of one status: an item close to one already signed (its anchor) has none.
  if (!glyph || signed.some(([ax, ay, g]) => g === glyph && Math.hypot(ax - q[0], ay - q[1]) < 16)) return;
  // Another status's sign on the spot: this one goes beside it, not over it.
  while (drawnAt.some(([sx, sy]) => Math.abs(sx - x) < 10 && Math.abs(sy - y) < 12)) x += step;
  signed.push([q[0], q[1], glyph]);
  drawnAt.push([x, y]);
  tag(ctx, x, y, glyph, colour);
}
export function cross(ctx: CanvasRenderingContext2D, q: [number, number]): void {
  ctx.strokeStyle = MARKER;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  ctx.moveTo(q[0] - 14, q[1]);
  ctx.lineTo(q[0] - 4, q[1]);
  ctx.moveTo(q[0] + 4, q[1]);
  ctx.lineTo(q[0] + 14, q[1]);
  ctx.moveTo(q[0], q[1] - 14);
  ctx.lineTo(q[0], q[1] - 4);
  ctx.moveTo(q[0], q[1] + 4);
  ctx.lineTo(q[0], q[1] + 14);
  ctx.stroke();
}
