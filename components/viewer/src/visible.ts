// The CPU path's drawing of a grayscale image, windowing only what the panel shows (a hook
// in window.ts: every local image passes there before it is shown).
//
// Cornerstone 5.14's CPU path (renderGrayscaleImage) applies the window's lookup table to
// EVERY pixel of the image into an offscreen canvas (putImageData of the whole image) each
// time the window changes, then draws that canvas scaled onto the panel. For a W/L drag
// that is the whole cost of a move: four panels of 1024x832 previews, 3.4M lookups and
// 13.6 MB of putImageData per move; once the 4096x3328 full images are shown, 54M lookups
// (docs/measurements.md, "the viewer on the CPU path"), though a panel zoomed to the full
// image's scale shows a fifth of it. Here, per panel:
//
// - the lookup runs only over the part of the image the panel shows (the canvas' corners
//   taken back through the drawing transform, plus a margin of 2 pixels for the smoothing),
//   and putImageData copies only that rectangle;
// - while the window, the image and the invert are unchanged, a zoom or pan that stays in
//   the rectangle already windowed only redraws the canvas (as Cornerstone did for the
//   whole image); one that leaves it windows the newly shown part with a margin (a quarter
//   of its size on each side), so a pan does not window a sliver per frame;
// - one 32-bit store per pixel (white with the lookup's value as alpha, what Cornerstone
//   writes byte by byte) from a 32-bit table built per window.
//
// The pixels drawn are Cornerstone's: the same table (the linear modality and VOI functions
// of cpuFallback/rendering/generateLut.js, the same rounding), the same transform
// (calculateTransform.js, ported below: those modules are not exported), the same
// smoothing. Colour images, colormaps, non-linear modality/VOI tables and PET keep
// Cornerstone's own path (no `render` is set for colour images; the others never occur in
// this viewer, which shows 16-bit grayscale mammograms: see `drawVisible`).
import type * as cs from "@cornerstonejs/core";

interface Point {
  x: number;
  y: number;
}
/** The parts of Cornerstone's CPU "enabled element" read here (cpuFallback types). */
interface Enabled {
  canvas: HTMLCanvasElement;
  image: cs.Types.IImage & { isPreScaled?: boolean };
  viewport: {
    voi: { windowWidth: number; windowCenter: number };
    invert?: boolean;
    pixelReplication?: boolean;
    rotation?: number;
    hflip?: boolean;
    vflip?: boolean;
    scale?: number | number[];
    translation: Point;
    aspectRatio?: number[];
    modality?: string;
    modalityLUT?: unknown;
    voiLUT?: unknown;
    colormap?: unknown;
    displayedArea?: {
      tlhc: Point;
      brhc: Point;
      presentationSizeMode?: string;
      rowPixelSpacing?: number;
      columnPixelSpacing?: number;
    };
  };
  renderingTools: Record<string, unknown>;
}

/** What a panel's offscreen canvas holds: which window over which rectangle of the image
 * (the canvas is that rectangle's size: its pixel (0, 0) is the image's (x0, y0)). */
interface Held {
  canvas: HTMLCanvasElement;
  ctx: CanvasRenderingContext2D;
  data: ImageData | null; // at least the rectangle's size; its rows data.width long
  words: Uint32Array;
  key: string;
  rect: [number, number, number, number]; // x0, y0, x1, y1 (image pixels, end exclusive)
}

type M = [number, number, number, number, number, number];

function translate(m: M, x: number, y: number): void {
  m[4] += m[0] * x + m[2] * y;
  m[5] += m[1] * x + m[3] * y;
}
function rotate(m: M, rad: number): void {
  const c = Math.cos(rad);
  const s = Math.sin(rad);
  const [a, b, cc, d] = m;
  m[0] = a * c + cc * s;
  m[1] = b * c + d * s;
  m[2] = a * -s + cc * c;
  m[3] = b * -s + d * c;
}
function scale(m: M, sx: number, sy: number): void {
  m[0] *= sx;
  m[1] *= sx;
  m[2] *= sy;
  m[3] *= sy;
}

/** Cornerstone's calculateTransform (cpuFallback/rendering/calculateTransform.js, 5.14). */
export function transformOf(e: Enabled): M {
  const m: M = [1, 0, 0, 1, 0, 0];
  const vp = e.viewport;
  const area = vp.displayedArea;
  if (!area) return m;
  translate(m, e.canvas.width / 2, e.canvas.height / 2);
  const angle = vp.rotation ?? 0;
  if (angle !== 0) rotate(m, (angle * Math.PI) / 180);
  const explicit = Array.isArray(vp.scale);
  let ws = Array.isArray(vp.scale) ? (vp.scale[0] ?? 1) : (vp.scale ?? 1);
  let hs = Array.isArray(vp.scale) ? (vp.scale[1] ?? 1) : (vp.scale ?? 1);
  const width = area.brhc.x - (area.tlhc.x - 1);
  const height = area.brhc.y - (area.tlhc.y - 1);
  const img = e.image;
  if (explicit) {
    /* the axis scales as given */
  } else if (area.presentationSizeMode === "NONE") {
    if (img.rowPixelSpacing < img.columnPixelSpacing) ws *= img.columnPixelSpacing / img.rowPixelSpacing;
    else if (img.columnPixelSpacing < img.rowPixelSpacing) hs *= img.rowPixelSpacing / img.columnPixelSpacing;
  } else {
    const cps = area.columnPixelSpacing ?? 1;
    const rps = area.rowPixelSpacing ?? 1;
    ws = cps;
    hs = rps;
    if (area.presentationSizeMode === "SCALE TO FIT") {
      ws = hs = Math.min(e.canvas.height / (height * hs), e.canvas.width / (width * ws));
      if (rps < cps) ws *= cps / rps;
      else if (cps < rps) hs *= rps / cps;
    }
  }
  scale(m, ws, hs);
  if (angle !== 0) rotate(m, (-angle * Math.PI) / 180);
  translate(m, vp.translation.x, vp.translation.y);
  if (angle !== 0) rotate(m, (angle * Math.PI) / 180);
  if (vp.aspectRatio !== undefined) scale(m, vp.aspectRatio[0], vp.aspectRatio[1]);
  if (vp.hflip) scale(m, -1, 1);
  if (vp.vflip) scale(m, 1, -1);
  translate(m, -width / 2, -height / 2);
  return m;
}

/** The image rectangle [x0, y0, x1, y1) drawn on a canvas of `cw` x `ch` through `m`, the
 * source rectangle starting at (sx, sy), grown by `margin` and clipped to the image. */
export function shownRect(
  m: M,
  cw: number,
  ch: number,
  sx: number,
  sy: number,
  iw: number,
  ih: number,
  margin = 2,
): [number, number, number, number] {
  const det = m[0] * m[3] - m[1] * m[2];
  if (!Number.isFinite(det) || det === 0) return [0, 0, iw, ih];
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const [cx, cy] of [
    [0, 0],
    [cw, 0],
    [0, ch],
    [cw, ch],
  ]) {
    const dx = cx - m[4];
    const dy = cy - m[5];
    const u = (m[3] * dx - m[2] * dy) / det + sx;
    const v = (-m[1] * dx + m[0] * dy) / det + sy;
    x0 = Math.min(x0, u);
    y0 = Math.min(y0, v);
    x1 = Math.max(x1, u);
    y1 = Math.max(y1, v);
  }
  const clip = (v: number, hi: number) => Math.min(Math.max(v, 0), hi);
  return [
    clip(Math.floor(x0) - margin, iw),
    clip(Math.floor(y0) - margin, ih),
    clip(Math.ceil(x1) + margin, iw),
    clip(Math.ceil(y1) + margin, ih),
  ];
}

/** Large images' CPU draws (window + put, drawImage), for the full-resolution bench. */
export const renders: { id: string; windowMs: number; drawMs: number; at: number; split: number[] }[] = [];
let split: number[] = [];

const tables = new WeakMap<object, { key: string; words: Uint32Array; offset: number }>();

/** The window's lookup table of `image` as 32-bit words (white, alpha = the grey level),
 * indexed by stored value - offset: Cornerstone's generateLut (linear modality and VOI). */
export function lookup(
  image: cs.Types.IImage & { isPreScaled?: boolean },
  width: number,
  center: number,
  invert: boolean,
): { words: Uint32Array; offset: number; key: string } {
  const lo = image.minPixelValue;
  const hi = image.maxPixelValue;
  const slope = image.slope ?? 1;
  const intercept = image.intercept ?? 0;
  const key = `${width}|${center}|${invert}|${lo}|${hi}|${slope}|${intercept}|${!!image.isPreScaled}`;
  const had = tables.get(image);
  if (had?.key === key) return had;
  const offset = Math.min(lo, 0);
  const bytes = new Uint8ClampedArray(hi - offset + 1);
  const pre = !!image.isPreScaled;
  for (let s = lo; s <= hi; s++) {
    const m = pre ? s : s * slope + intercept;
    const value = Math.min(Math.max(((m - (center - 0.5)) / (width - 1) + 0.5) * 255.0, 0), 255);
    bytes[s - offset] = invert ? 255 - value : value;
  }
  const words = new Uint32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) words[i] = ((bytes[i] << 24) | 0xffffff) >>> 0;
  const made = { key, words, offset };
  tables.set(image, made);
  return made;
}

/** Window `pixels` (row length `w`) over `rect` through `table` into `out`, the
 * rectangle's own pixels (row length `stride`, by default x1 - x0). */
export function windowRect(
  pixels: ArrayLike<number>,
  w: number,
  rect: readonly number[],
  table: Uint32Array,
  offset: number,
  out: Uint32Array,
  stride = rect[2] - rect[0],
): void {
  const [x0, y0, x1, y1] = rect;
  for (let y = y0; y < y1; y++) {
    const row = y * w;
    const end = row + x1;
    let k = (y - y0) * stride - x0 - row; // out index = pixel index + k
    if (offset === 0) for (let i = row + x0; i < end; i++) out[i + k] = table[pixels[i]];
    else for (let i = row + x0; i < end; i++) out[i + k] = table[pixels[i] - offset];
  }
}

function contains(a: readonly number[], b: readonly number[]): boolean {
  return a[0] <= b[0] && a[1] <= b[1] && a[2] >= b[2] && a[3] >= b[3];
}

const heldBy = new WeakMap<Enabled, Held>();

/** The panel's canvas holding the windowed image of `e`, windowed at least over `need`.
 *
 * The canvas is only the rectangle windowed (Cornerstone's, and this module's until
 * 3 December 2026, was the whole image's: 54 MB of canvas and as much of ImageData per
 * panel for a 4096x3328 mammogram, allocated and cleared on its first draw however little
 * of it the panel showed); what lies outside it is never on screen (shownRect's margin). */
function windowed(e: Enabled, need: [number, number, number, number], invalidated: boolean): Held {
  const image = e.image;
  const { width: w, height: h } = image;
  const t0 = performance.now();
  // Kept per panel (its enabled element), not in `renderingTools`: Cornerstone empties
  // those at every setStack, and a new canvas and ImageData per panel per case switch
  // (3-4 MB each, outside V8's heap, counted towards its global allocation limit) were
  // garbage (docs/measurements.md, "h/gc"). The key below tells what the canvas holds.
  let held = heldBy.get(e);
  if (!held) {
    const canvas = document.createElement("canvas");
    const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
    held = { canvas, ctx, data: null, words: new Uint32Array(0), key: "", rect: [0, 0, 0, 0] };
    heldBy.set(e, held);
  }
  const voi = e.viewport.voi;
  const table = lookup(image, voi.windowWidth, voi.windowCenter, !!e.viewport.invert);
  const key = `${image.imageId}|${table.key}`;
  if (!invalidated && key === held.key && contains(held.rect, need)) return held;
  let rect = need;
  if (!invalidated && key === held.key) {
    // Same window, newly shown part (a zoom out or a pan): a margin for the next frames.
    const gx = Math.ceil((need[2] - need[0]) / 4);
    const gy = Math.ceil((need[3] - need[1]) / 4);
    rect = [Math.max(need[0] - gx, 0), Math.max(need[1] - gy, 0), Math.min(need[2] + gx, w), Math.min(need[3] + gy, h)];
  }
  const pixels = image.voxelManager?.getScalarData?.() ?? image.getPixelData();
  const rw = rect[2] - rect[0];
  const rh = rect[3] - rect[1];
  let t1 = performance.now();
  let t2 = t1;
  if (rw > 0 && rh > 0) {
    if (held.canvas.width !== rw || held.canvas.height !== rh) {
      held.canvas.width = rw;
      held.canvas.height = rh;
    }
    // The ImageData is reused while the rectangle fits in it (the next case's image of
    // another size, a pan); one more than twice as large as needed goes.
    const d = held.data;
    if (!d || d.width < rw || d.height < rh || d.width * d.height > 2 * rw * rh) {
      held.data = new ImageData(rw, rh);
      held.words = new Uint32Array(held.data.data.buffer);
    }
    const data = held.data as ImageData;
    t1 = performance.now();
    windowRect(pixels as ArrayLike<number>, w, rect, table.words, table.offset, held.words, data.width);
    t2 = performance.now();
    held.ctx.putImageData(data, 0, 0, 0, 0, rw, rh); // only the rectangle's part of it
  }
  split = [Math.round(t1 - t0), Math.round(t2 - t1), Math.round(performance.now() - t2)];
  held.key = key;
  held.rect = rect;
  return held;
}

/** Cornerstone's `image.render` for the CPU path (drawImageSync calls it with the panel's
 * enabled element): renderGrayscaleImage, windowing only the part shown; during a W/L
 * drag, at the panel's own resolution (`drawDraft`). */
function render(e: Enabled, invalidated: boolean): void {
  if (drafting && drawDraft(e)) {
    remember(e);
    return;
  }
  const t0 = performance.now();
  const vp = e.viewport;
  const ctx = e.canvas.getContext("2d") as CanvasRenderingContext2D;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.fillStyle = "black";
  ctx.fillRect(0, 0, e.canvas.width, e.canvas.height);
  ctx.imageSmoothingEnabled = !vp.pixelReplication;
  const m = transformOf(e);
  ctx.setTransform(m[0], m[1], m[2], m[3], m[4], m[5]);
  const { sx, sy, width, height } = areaOf(e);
  const need = shownRect(m, e.canvas.width, e.canvas.height, sx, sy, e.image.width, e.image.height);
  split = [];
  const held = windowed(e, need, invalidated);
  const t1 = performance.now();
  // The part of the displayed area the canvas holds, where Cornerstone drew the whole
  // area (sx, sy, width, height) at (0, 0): the same pixels where the panel shows them.
  const [x0, y0, x1, y1] = held.rect;
  const ix0 = Math.max(x0, sx);
  const iy0 = Math.max(y0, sy);
  const ix1 = Math.min(x1, sx + width);
  const iy1 = Math.min(y1, sy + height);
  if (ix1 > ix0 && iy1 > iy0) {
    const [dw, dh] = [ix1 - ix0, iy1 - iy0];
    ctx.drawImage(held.canvas, ix0 - x0, iy0 - y0, dw, dh, ix0 - sx, iy0 - sy, dw, dh);
  }
  if (e.image.width * e.image.height >= 4_000_000) {
    renders.push({ id: e.image.imageId, windowMs: Math.round(t1 - t0), drawMs: Math.round(performance.now() - t1), split, at: Math.round(performance.timeOrigin + t0) });
    if (renders.length > 64) renders.splice(0, renders.length - 64);
  }
  drawn.exact += 1;
  remember(e);
}

/** The displayed area's first pixel (sx, sy) and size, in image pixels. */
function areaOf(e: Enabled): { sx: number; sy: number; width: number; height: number } {
  const area = e.viewport.displayedArea ?? { tlhc: { x: 1, y: 1 }, brhc: { x: e.image.width, y: e.image.height } };
  const sx = area.tlhc.x - 1;
  const sy = area.tlhc.y - 1;
  return { sx, sy, width: area.brhc.x - sx, height: area.brhc.y - sy };
}

/** What Cornerstone's saveLastRendered keeps (read by its own renderers only). */
function remember(e: Enabled): void {
  const vp = e.viewport;
  Object.assign(e.renderingTools, {
    lastRenderedImageId: e.image.imageId,
    lastRenderedIsColor: false,
    lastRenderedViewport: {
      windowCenter: vp.voi.windowCenter,
      windowWidth: vp.voi.windowWidth,
      invert: vp.invert,
      rotation: vp.rotation,
      hflip: vp.hflip,
      vflip: vp.vflip,
      modalityLUT: vp.modalityLUT,
      voiLUT: vp.voiLUT,
      colormap: vp.colormap,
    },
  });
}

// ---- the draft of a W/L drag ------------------------------------------------------------
// A W/L move changes the window of every synchronised panel, so each move windows anew
// everything the panels show. The exact draw (above) windows the image's pixels shown,
// then lets the canvas scale them to the panel: at the reading zoom several image pixels
// per screen pixel (a 1024x832 preview shown ~250 px wide: 4.5 image pixels windowed and
// put per pixel drawn; a 4096x3328 full image, 27 or more). While the right button is held
// (interact.ts) a panel is drawn instead at its own resolution: each canvas pixel takes
// the image's stored value at its centre through the same transform (bilinear between the
// four nearest, as the canvas' smoothing; the nearest with pixel replication), kept while
// the camera and the image stay, then the window's lookup per canvas pixel and one
// putImageData, no scaled draw. The look differs from the exact draw only in the order of
// interpolation and lookup (which differ where the window clips) and at the image's edge.
// When the drag ends (button up, or 400 ms without a move) every panel is drawn exactly
// again: what stays on screen is the exact draw, pixel for pixel. A panel zoomed in so far
// that its canvas has as many pixels as the part of the image it shows keeps the exact draw.

/** A panel's draft: the stored value (lookup index) under each canvas pixel, -1 outside
 * the displayed area, for the camera `key`; the ImageData put on the panel's canvas. */
interface Draft {
  key: string;
  index: Int32Array;
  data: ImageData;
  words: Int32Array; // the ImageData's pixels (int32: no doubles in the loop below)
}

const BLACK = 0xff000000 | 0; // opaque black, as an int32
let drafting = false;
let drafted = false;
/** Draws so far, exact and draft (data-draws, for tests). */
export const drawn = { exact: 0, draft: 0 };

/** Draw W/L moves as drafts from now until `endDraft`. */
export function startDraft(): void {
  drafting = true;
}

/** Back to exact draws; true when a draft was drawn since `startDraft` (its panels must be
 * drawn again). */
export function endDraft(): boolean {
  const was = drafted;
  drafting = false;
  drafted = false;
  return was;
}

const opaque = new WeakMap<Uint32Array, Int32Array>();
/** The lookup's words as opaque grey (the exact draw's white at that alpha over black). */
function opaqueOf(words: Uint32Array): Int32Array {
  let o = opaque.get(words);
  if (!o) {
    o = new Int32Array(words.length);
    for (let i = 0; i < words.length; i++) o[i] = BLACK | ((words[i] >>> 24) * 0x010101);
    opaque.set(words, o);
  }
  return o;
}

/** The stored value's lookup index under each canvas pixel (see `Draft`). */
export function sampleGrid(
  pixels: ArrayLike<number>,
  iw: number,
  ih: number,
  m: M,
  cw: number,
  ch: number,
  area: { sx: number; sy: number; width: number; height: number },
  offset: number,
  smooth: boolean,
  out: Int32Array,
): void {
  const det = m[0] * m[3] - m[1] * m[2];
  // Canvas (x + 0.5, y + 0.5) -> image (u, v); pixel k's centre is at k + 0.5.
  const ux = m[3] / det;
  const vx = -m[1] / det;
  const uy = -m[2] / det;
  const vy = m[0] / det;
  const { sx, sy } = area;
  const ax1 = Math.min(sx + area.width, iw);
  const ay1 = Math.min(sy + area.height, ih);
  const ax0 = Math.max(sx, 0);
  const ay0 = Math.max(sy, 0);
  let k = 0;
  for (let y = 0; y < ch; y++) {
    const dy = y + 0.5 - m[5];
    const dx0 = 0.5 - m[4];
    let u = ux * dx0 + uy * dy + sx;
    let v = vx * dx0 + vy * dy + sy;
    for (let x = 0; x < cw; x++, k++, u += ux, v += vx) {
      if (!(u >= ax0 && u < ax1 && v >= ay0 && v < ay1)) {
        out[k] = -1;
        continue;
      }
      if (!smooth) {
        out[k] = pixels[(v | 0) * iw + (u | 0)] - offset;
        continue;
      }
      const fx = Math.min(Math.max(u - 0.5, ax0), ax1 - 1);
      const fy = Math.min(Math.max(v - 0.5, ay0), ay1 - 1);
      const x0 = fx | 0;
      const y0 = fy | 0;
      const x1 = x0 + 1 < ax1 ? x0 + 1 : x0;
      const y1 = y0 + 1 < ay1 ? y0 + 1 : y0;
      const wx = fx - x0;
      const wy = fy - y0;
      const r0 = y0 * iw;
      const r1 = y1 * iw;
      const top = pixels[r0 + x0] + (pixels[r0 + x1] - pixels[r0 + x0]) * wx;
      const bottom = pixels[r1 + x0] + (pixels[r1 + x1] - pixels[r1 + x0]) * wx;
      out[k] = Math.round(top + (bottom - top) * wy) - offset;
    }
  }
}

/** Draw `e` as a draft (see above); false when the exact draw is as cheap (zoomed in). */
function drawDraft(e: Enabled): boolean {
  const image = e.image;
  const { width: cw, height: ch } = e.canvas;
  const m = transformOf(e);
  const area = areaOf(e);
  const need = shownRect(m, cw, ch, area.sx, area.sy, image.width, image.height);
  if ((need[2] - need[0]) * (need[3] - need[1]) <= 1.5 * cw * ch || cw * ch === 0) return false;
  const det = m[0] * m[3] - m[1] * m[2];
  if (!Number.isFinite(det) || det === 0) return false;
  const voi = e.viewport.voi;
  const table = lookup(image, voi.windowWidth, voi.windowCenter, !!e.viewport.invert);
  const smooth = !e.viewport.pixelReplication;
  const key = `${image.imageId}|${m.join(",")}|${cw}x${ch}|${area.sx},${area.sy},${area.width},${area.height}|${table.offset}|${smooth}`;
  let d = e.renderingTools.mcalcDraft as Draft | undefined;
  if (!d || d.data.width !== cw || d.data.height !== ch) {
    const data = new ImageData(cw, ch);
    d = { key: "", index: new Int32Array(cw * ch), data, words: new Int32Array(data.data.buffer) };
    e.renderingTools.mcalcDraft = d;
  }
  if (d.key !== key) {
    const pixels = image.voxelManager?.getScalarData?.() ?? image.getPixelData();
    sampleGrid(pixels as ArrayLike<number>, image.width, image.height, m, cw, ch, area, table.offset, smooth, d.index);
    d.key = key;
  }
  const grey = opaqueOf(table.words);
  const { index, words } = d;
  for (let i = 0; i < index.length; i++) {
    const j = index[i];
    words[i] = j < 0 ? BLACK : grey[j];
  }
  (e.canvas.getContext("2d") as CanvasRenderingContext2D).putImageData(d.data, 0, 0);
  drafted = true;
  drawn.draft += 1;
  return true;
}

/** Draw `image` on the CPU path with `render` (no effect on the WebGL path, which never
 * reads `image.render`). Grayscale images only; this viewer sets no colormap, modality or
 * VOI table and shows no PET. */
export function drawVisible(image: cs.Types.IImage): void {
  if (image.color) return;
  (image as unknown as { render: (e: Enabled, invalidated: boolean) => void }).render = render;
}
