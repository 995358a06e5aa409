// Predict's layers on the reading workstation: the model's probability map and the
// explanation (colour-mapped, blended in the browser at the opacity of the toolbar's
// slider, with their colour scale), the top regions (boxes) and the detections (markers).
// Toggling, blending and colouring never reach Python; a click on a region or a detection
// sends ONE small "region" event. Maps arrive as uint8 grids (base64) with the raw values
// that 0 and 255 stand for, and are stretched over the whole image like the server does.
// An explanation's hot spots (mcalc.present.reading_overlays.map_spots) are outlined over
// it in the colour of their peak, as a ring of at least SPOT_RING px where the outline is
// smaller on screen: the demo model's Grad-CAM sits on a few calcifications and showed as
// a few coloured pixels at the full-image zoom.

export type Point = [number, number]; // (row, col) in the panel's pixel grid
export interface Spot {
  peak: number; // 0..255: its colour on the scale
  outline: Point[]; // (row, col) in the map's own cells (a cell's centre at its index)
}
export interface MapLayer {
  name: string; // probability / explanation
  title: string;
  rows: number;
  cols: number;
  data: string; // base64 uint8, row-major
  range: [number, number]; // raw values of 0 and 255
  lo: number;
  hi: number;
  relative: boolean;
  scale: { label: string; low: string; high: string; note: string; spots?: string }; // the legend's words
  spots?: Spot[];
}
export interface RegionBox {
  image: string;
  rank: number;
  score: number;
  called?: boolean; // false: below the model's operating threshold (drawn dashed, dimmed)
  box: [number, number, number, number]; // r0, r1, c0, c1 (edges, panel grid)
}
export interface DetMarker {
  image: string;
  detection: number;
  row: number;
  col: number;
  score: number;
  called?: boolean; // as RegionBox's
  size_mm: number;
}
export interface Layers {
  image: string;
  // false: the model does not call the image (its map score below the operating
  // threshold): an explanation's rings on it are drawn dashed and grey, not as findings.
  called?: boolean;
  maps: MapLayer[];
  regions: RegionBox[];
  detections: DetMarker[] | null;
  // The legend's words for the boxes and markers the model does not call, and for the rings
  // on an image it does not call (from Python: mcalc.present.reading_overlays.below_words);
  // the rule itself stays in Python (`called`).
  below?: { label: string; note: string; rings?: string; rings_note?: string };
}
export interface OverlayArgs {
  lut: string; // base64 of 256 RGB triplets
  cmap: string;
  opacity: number;
  map: string; // the layer shown first
}
export interface LayerPanel {
  key: string;
  rows: number;
  cols: number;
  layers?: Layers;
}
export interface Host {
  root: HTMLDivElement;
  toCanvas(i: number, row: number, col: number): [number, number] | null;
  panels(): LayerPanel[];
  emit(event: Record<string, unknown>): void;
  redraw(): void;
  focus(): void;
  /** The active panel: the keyboard's region key (J) opens its regions. */
  active(): number;
}

import { LABEL_PX, type Rect, labelFont, pick, placeLabels, tag, tagBeside } from "./labels";
import { group } from "./bar";

const REGION_COLOUR = "#ffffff";
const SPOT_RING = 12; // css px: the smallest ring around a hot spot, at any zoom
const DETECTION_COLOUR = "#ff4fd8"; // as the classic figure's diamonds
// Below the model's operating threshold (a lowered region or detection threshold lists
// them): dashed and dimmed, so that the ones the model calls stand out without colour too.
const BELOW_REGION_COLOUR = "#a8a8a8";
const BELOW_DETECTION_COLOUR = "#b86aa8";
const BELOW_DASH = [4, 3];
let opts: OverlayArgs | null = null;
let lut: Uint8Array = new Uint8Array(768);
let shownMap = ""; // "" = no map
let opacity = 0.6;
let showRegions = true;
let showDetections = true;
let selectedRegion = "";
let lastClick = ""; // what the last click sent (for tests)
let hadLayers = false; // the last render's panels carried layers
const bitmaps = new Map<string, HTMLCanvasElement>(); // panel key + layer -> coloured grid
const regionLabels = new Map<number, [number, Rect, Rect][]>(); // panel -> [rank, label, box] as drawn
const spotLabels = new Map<number, Rect[]>(); // panel -> its hot spots' peaks as drawn (canvas px)

function b64bytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}
function layerNames(host: Host): string[] {
  const names: string[] = [];
  for (const p of host.panels()) {
    for (const m of p.layers?.maps ?? []) if (!names.includes(m.name)) names.push(m.name);
  }
  return names;
}
function hasLayers(host: Host): boolean {
  return host.panels().some((p) => p.layers);
}
function currentMap(host: Host): MapLayer | null {
  for (const p of host.panels()) {
    const m = p.layers?.maps.find((x) => x.name === shownMap);
    if (m) return m;
  }
  return null;
}

/** New arguments from Python (every render): keeps the reader's choices within a case.
 * Predict's first visit shows the images before the analysis ends: its layers then come
 * to the same case, and take the first map and opacity as a new case does. */
export function setOverlays(next: OverlayArgs | null | undefined, newCase: boolean, host: Host): void {
  const lutChanged = !opts || !next || opts.lut !== next.lut;
  const arrived = hasLayers(host) && !hadLayers;
  hadLayers = hasLayers(host);
  if (next && (newCase || !opts || arrived)) {
    opacity = next.opacity;
    shownMap = next.map;
  }
  opts = next ?? null;
  if (next && lutChanged) lut = b64bytes(next.lut);
  if (newCase || lutChanged) bitmaps.clear();
  if (newCase) selectedRegion = "";
  const names = layerNames(host);
  if (shownMap && !names.includes(shownMap)) shownMap = names[0] ?? "";
}

function bitmap(p: LayerPanel, m: MapLayer): HTMLCanvasElement {
  const id = `${p.key}|${m.name}|${m.rows}x${m.cols}|${m.data.length}|${m.data.slice(0, 24)}`;
  let c = bitmaps.get(id);
  if (c) return c;
  const values = b64bytes(m.data);
  c = document.createElement("canvas");
  c.width = m.cols;
  c.height = m.rows;
  const ctx = c.getContext("2d") as CanvasRenderingContext2D;
  const img = ctx.createImageData(m.cols, m.rows);
  for (let k = 0; k < values.length; k++) {
    const v = values[k];
    img.data[4 * k] = lut[3 * v];
    img.data[4 * k + 1] = lut[3 * v + 1];
    img.data[4 * k + 2] = lut[3 * v + 2];
    img.data[4 * k + 3] = v; // opacity x value, as the server's weighted blend
  }
  ctx.putImageData(img, 0, 0);
  bitmaps.set(id, c);
  return c;
}

/** The map of panel ``i`` (under every mark). */
export function drawUnder(i: number, ctx: CanvasRenderingContext2D, host: Host): void {
  spotLabels.delete(i);
  const p = host.panels()[i];
  const m = p?.layers?.maps.find((x) => x.name === shownMap);
  if (!p || !m || opacity <= 0) return;
  // Pixel (row, col) is the centre of its cell: the image spans -0.5 .. rows - 0.5.
  const a = host.toCanvas(i, -0.5, -0.5);
  const b = host.toCanvas(i, p.rows - 0.5, p.cols - 0.5);
  if (!a || !b) return;
  ctx.save();
  ctx.globalAlpha = opacity;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(bitmap(p, m), a[0], a[1], b[0] - a[0], b[1] - a[1]);
  ctx.restore();
  drawSpots(i, p, m, ctx, host);
}

interface SpotShape {
  pts: [number, number][]; // the outline in canvas px
  x: number; // the ring's centre and radius (0: the outline is large enough)
  y: number;
  r: number;
}

/** Where spot ``s`` of map ``m`` falls on panel ``i``'s canvas (the map's cells stretched
 * over the panel as drawUnder draws them). */
function spotShape(i: number, p: LayerPanel, m: MapLayer, s: Spot, host: Host): SpotShape | null {
  const pts: [number, number][] = [];
  for (const [r, c] of s.outline) {
    const q = host.toCanvas(i, ((r + 0.5) * p.rows) / m.rows - 0.5, ((c + 0.5) * p.cols) / m.cols - 0.5);
    if (!q) return null;
    pts.push(q);
  }
  if (!pts.length) return null;
  const xs = pts.map((q) => q[0]);
  const ys = pts.map((q) => q[1]);
  const [x0, x1, y0, y1] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  const small = Math.max(x1 - x0, y1 - y0) < 2 * SPOT_RING;
  return { pts, x: (x0 + x1) / 2, y: (y0 + y1) / 2, r: small ? SPOT_RING : 0 };
}

/** The spots of map ``m`` as drawn on panel ``i``: the highest first; a small spot whose
 * centre falls inside the ring of a higher one already drawn is left to that ring (two
 * spots on one cluster gave two overlapping rings at the full-image zoom). */
function spotShapes(i: number, p: LayerPanel, m: MapLayer, host: Host): [Spot, SpotShape][] {
  const out: [Spot, SpotShape][] = [];
  for (const s of m.spots ?? []) {
    const g = spotShape(i, p, m, s, host);
    if (!g) continue;
    const taken = g.r && out.some(([, h]) => h.r && Math.hypot(h.x - g.x, h.y - g.y) < h.r);
    if (!taken) out.push([s, g]);
  }
  return out;
}

/** The hot spots of the map shown: a ring with four ticks (a sight, unlike the dataset's
 * circles and the detections' diamonds), or the outline once larger than the ring, in
 * the colour of the spot's peak over a dark edge, labelled with that peak as a share of
 * the scale's top. */
function drawSpots(i: number, p: LayerPanel, m: MapLayer, ctx: CanvasRenderingContext2D, host: Host): void {
  if (!m.spots?.length) return;
  // An image the model does not call: its rings dashed and grey (not findings).
  const muted = p.layers?.called === false;
  ctx.save();
  ctx.lineJoin = "round";
  labelFont(ctx);
  ctx.setLineDash(muted ? BELOW_DASH : []);
  const width = ctx.canvas.clientWidth || ctx.canvas.width;
  const height = ctx.canvas.clientHeight || ctx.canvas.height;
  // The peaks clear of the region boxes (drawn later, over them) and of each other.
  const boxes = showRegions ? (p.layers?.regions ?? []).map((r) => boxCanvas(i, r, host)).filter((q): q is Rect => !!q) : [];
  const placed: Rect[] = [];
  for (const [s, g] of spotShapes(i, p, m, host)) {
    ctx.beginPath();
    if (g.r) {
      ctx.arc(g.x, g.y, g.r, 0, 2 * Math.PI);
      for (const [dx, dy] of [[1, 0], [-1, 0], [0, 1], [0, -1]]) {
        ctx.moveTo(g.x + dx * g.r, g.y + dy * g.r);
        ctx.lineTo(g.x + dx * (g.r + 6), g.y + dy * (g.r + 6));
      }
    } else {
      g.pts.forEach((q, k) => (k ? ctx.lineTo(q[0], q[1]) : ctx.moveTo(q[0], q[1])));
      ctx.closePath();
    }
    ctx.strokeStyle = "rgba(0,0,0,0.85)";
    ctx.lineWidth = 4;
    ctx.stroke();
    const v = Math.max(0, Math.min(255, s.peak));
    const colour = muted ? BELOW_REGION_COLOUR : `rgb(${lut[3 * v]},${lut[3 * v + 1]},${lut[3 * v + 2]})`;
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.stroke();
    const ys = g.r ? [g.y - g.r, g.y + g.r] : [Math.min(...g.pts.map((q) => q[1])), Math.max(...g.pts.map((q) => q[1]))];
    const text = `${Math.round((100 * v) / 255)}%`;
    const w = ctx.measureText(text).width;
    // Outside the ring (never over the spot): above it at the right, then at the left
    // (the canvas's right edge), then below it (its top edge).
    const [right, left] = [g.x + (g.r || 4) + 2, g.x - (g.r || 4) - 2 - w];
    const [above, below] = [ys[0] - LABEL_PX, ys[1] + 2];
    const cands: Rect[] = [right, left].flatMap((x) => [above, below].map((y): Rect => [x, y, w, LABEL_PX]));
    const at = pick([cands[0], cands[2], cands[1], cands[3]], placed, boxes, width, height);
    placed.push(at);
    ctx.setLineDash([]);
    tag(ctx, at[0], at[1] + LABEL_PX - 3, text, muted ? BELOW_REGION_COLOUR : "#fff");
    ctx.setLineDash(muted ? BELOW_DASH : []);
  }
  spotLabels.set(i, placed);
  ctx.restore();
}

function boxCanvas(i: number, r: RegionBox, host: Host): [number, number, number, number] | null {
  const a = host.toCanvas(i, r.box[0] - 0.5, r.box[2] - 0.5);
  const b = host.toCanvas(i, r.box[1] - 0.5, r.box[3] - 0.5);
  if (!a || !b) return null;
  return [Math.min(a[0], b[0]), Math.min(a[1], b[1]), Math.abs(b[0] - a[0]), Math.abs(b[1] - a[1])];
}

/** Regions and detections of panel ``i`` (over the marks). */
export function drawOver(i: number, ctx: CanvasRenderingContext2D, host: Host): void {
  const layers = host.panels()[i]?.layers;
  if (!layers) return;
  ctx.save();
  labelFont(ctx);
  regionLabels.delete(i);
  if (showRegions) {
    const shown: [RegionBox, Rect][] = [];
    for (const r of layers.regions) {
      const q = boxCanvas(i, r, host);
      if (q) shown.push([r, [q[0], q[1], Math.max(q[2], 4), Math.max(q[3], 4)]]);
    }
    // Numbers clear of the other boxes and labels (labels.ts), on a dark tab.
    const sizes = shown.map(([r]): [number, number] => [ctx.measureText(String(r.rank)).width + 6, LABEL_PX + 3]);
    const width = ctx.canvas.clientWidth || ctx.canvas.width;
    const height = ctx.canvas.clientHeight || ctx.canvas.height;
    const spots = placeLabels(
      shown.map(([, q]) => q),
      sizes,
      width,
      height,
      spotLabels.get(i) ?? [],
    );
    shown.forEach(([r, q], k) => {
      const on = selectedRegion === `${r.image}#${r.rank}`;
      const below = r.called === false;
      ctx.strokeStyle = on ? "#ffeb3b" : below ? BELOW_REGION_COLOUR : REGION_COLOUR;
      ctx.lineWidth = on ? 2.5 : 1.2;
      ctx.setLineDash(below ? BELOW_DASH : []);
      ctx.strokeRect(q[0], q[1], q[2], q[3]);
      ctx.setLineDash([]);
      const [x, y, w, h] = spots[k];
      ctx.fillStyle = "rgba(0,0,0,0.6)";
      ctx.fillRect(x, y, w, h);
      ctx.fillStyle = ctx.strokeStyle;
      ctx.fillText(String(r.rank), x + 3, y + h - 4);
    });
    regionLabels.set(
      i,
      shown.map(([r, q], k) => [r.rank, spots[k].map(Math.round) as Rect, q.map(Math.round) as Rect]),
    );
  }
  if (showDetections && layers.detections) {
    for (const d of layers.detections) {
      const q = host.toCanvas(i, d.row, d.col);
      if (!q) continue;
      const below = d.called === false;
      const colour = below ? BELOW_DETECTION_COLOUR : DETECTION_COLOUR;
      ctx.strokeStyle = colour;
      ctx.setLineDash(below ? [3, 2] : []);
      const s = 7;
      ctx.beginPath();
      ctx.moveTo(q[0], q[1] - s);
      ctx.lineTo(q[0] + s, q[1]);
      ctx.lineTo(q[0], q[1] + s);
      ctx.lineTo(q[0] - s, q[1]);
      ctx.closePath();
      ctx.lineWidth = 2;
      ctx.stroke();
      ctx.setLineDash([]);
      // Its number right of the diamond, left of it at the canvas's right edge.
      tagBeside(ctx, q[0] - s - 2, q[0] + s + 2, q[1] + 5, String(d.detection), colour);
    }
  }
  ctx.restore();
}

/** The region or detection under canvas (x, y) of panel ``i``, as the event to send. */
function hit(i: number, x: number, y: number, host: Host): Record<string, unknown> | null {
  const layers = host.panels()[i]?.layers;
  if (!layers) return null;
  if (showDetections && layers.detections) {
    for (const d of layers.detections) {
      const q = host.toCanvas(i, d.row, d.col);
      if (q && Math.hypot(q[0] - x, q[1] - y) <= 9) {
        return { type: "region", image: d.image, detection: d.detection };
      }
    }
  }
  if (!showRegions) return null;
  let best: RegionBox | null = null;
  let bestArea = Infinity;
  for (const r of layers.regions) {
    const q = boxCanvas(i, r, host);
    if (!q) continue;
    const [bx, by, bw, bh] = [q[0], q[1], Math.max(q[2], 8), Math.max(q[3], 8)];
    if (x >= bx - 2 && x <= bx + bw + 2 && y >= by - 2 && y <= by + bh + 2 && bw * bh < bestArea) {
      best = r;
      bestArea = bw * bh;
    }
  }
  return best ? { type: "region", image: best.image, rank: best.rank } : null;
}

/** The keyboard's click on a region (J): the active panel's next region by rank, after
 * the one open (or its first), opened as a click opens it. A region's detail needed a
 * click on its box, or a row picked in the regions table, which Streamlit's data grid
 * does not take from the keyboard (h/a11y). */
function nextRegion(host: Host): void {
  const regions = [...(host.panels()[host.active()]?.layers?.regions ?? [])].sort((a, b) => a.rank - b.rank);
  if (!regions.length) return;
  showRegions = true;
  const at = regions.findIndex((r) => selectedRegion === `${r.image}#${r.rank}`);
  const r = regions[(at + 1) % regions.length];
  const event = { type: "region", image: r.image, rank: r.rank };
  selectedRegion = `${r.image}#${r.rank}`;
  lastClick = JSON.stringify(event);
  host.emit(event);
  host.redraw();
}

/** A click (press and release without dragging) on a region or detection of panel ``i``
 * sends one "region" event; a drag stays the pan/zoom tools'. */
export function watchClicks(i: number, el: HTMLElement, host: Host): void {
  el.addEventListener("mousedown", (ev: MouseEvent) => {
    if (ev.button !== 0 || !host.panels()[i]?.layers) return;
    const rect = el.getBoundingClientRect();
    const x0 = ev.clientX;
    const y0 = ev.clientY;
    const up = (e: MouseEvent) => {
      window.removeEventListener("mouseup", up, true);
      if (Math.hypot(e.clientX - x0, e.clientY - y0) > 4) return;
      const event = hit(i, x0 - rect.left, y0 - rect.top, host);
      if (!event) return;
      selectedRegion = `${event.image}#${event.rank ?? "d" + String(event.detection)}`;
      lastClick = JSON.stringify(event);
      host.emit(event);
      host.redraw();
    };
    window.addEventListener("mouseup", up, true);
  }, true);
}

function legend(host: Host): HTMLElement | null {
  const m = currentMap(host);
  if (!m) return null;
  const box = document.createElement("span");
  box.className = "legend";
  const bar = document.createElement("canvas");
  bar.width = 120;
  bar.height = 10;
  const ctx = bar.getContext("2d") as CanvasRenderingContext2D;
  for (let x = 0; x < bar.width; x++) {
    const v = Math.round((x / (bar.width - 1)) * 255);
    ctx.fillStyle = `rgb(${lut[3 * v]},${lut[3 * v + 1]},${lut[3 * v + 2]})`;
    ctx.fillRect(x, 0, 1, bar.height);
  }
  // The words come from Python (mcalc.present.reading_overlays.scale_words).
  const lo = document.createElement("span");
  lo.textContent = m.scale.low;
  const hi = document.createElement("span");
  hi.textContent = m.scale.high;
  box.title = m.scale.note;
  const t = document.createElement("span");
  t.className = "legend-title";
  t.textContent = m.scale.label;
  box.append(t, lo, bar, hi);
  if (m.scale.spots && m.spots) {
    const s = document.createElement("span");
    s.className = "legend-spots";
    s.textContent = m.scale.spots;
    box.append(s);
  }
  return box;
}

/** How many regions and detections of the panels the model does not call (``called``
 * false, set by Python): [regions, detections]. */
function belowCounts(host: Host): [number, number] {
  let regions = 0;
  let detections = 0;
  for (const p of host.panels()) {
    regions += (p.layers?.regions ?? []).filter((r) => r.called === false).length;
    detections += (p.layers?.detections ?? []).filter((d) => d.called === false).length;
  }
  return [regions, detections];
}

/** The panels whose rings are drawn dashed and grey: the shown map has hot spots on an
 * image the model does not call. */
function mutedSpotPanels(host: Host): number[] {
  const out: number[] = [];
  const drawn = shownMap && opacity > 0 ? shownMap : "";
  host.panels().forEach((p, i) => {
    const m = p.layers?.maps.find((x) => x.name === drawn);
    if (p.layers?.called === false && m?.spots?.length) out.push(i);
  });
  return out;
}

/** The key to the dashed, dimmed boxes and diamonds, when any is listed, and to the dashed
 * grey rings, when any is drawn: a dashed swatch and Python's words (the full sentence in
 * its tooltip). */
function belowLegend(host: Host): HTMLElement | null {
  const [regions, detections] = belowCounts(host);
  const words = host.panels().find((p) => p.layers?.below)?.layers?.below;
  const rings = words?.rings && mutedSpotPanels(host).length > 0;
  if (!words || (regions + detections === 0 && !rings)) return null;
  const box = document.createElement("span");
  box.className = "legend legend-below";
  const notes: string[] = [];
  if (regions + detections > 0) {
    const swatch = document.createElement("span");
    swatch.className = "below-swatch";
    const t = document.createElement("span");
    t.textContent = words.label;
    box.append(swatch, t);
    notes.push(words.note);
  }
  if (rings) {
    const t = document.createElement("span");
    t.className = "legend-rings-below";
    t.textContent = words.rings ?? "";
    box.append(t);
    notes.push(words.rings_note ?? "");
  }
  box.title = notes.join(" ");
  return box;
}

function toggle(label: string, on: boolean, title: string, action: () => void): HTMLButtonElement {
  const b = document.createElement("button");
  b.textContent = label;
  b.title = title;
  if (on) b.className = "on";
  b.setAttribute("aria-pressed", String(on)); // a toggle: its state for a screen reader
  b.addEventListener("click", (e) => {
    e.preventDefault();
    action();
  });
  return b;
}

/** Predict's controls in the toolbar: the map shown, its opacity and colour scale,
 * regions and detections on/off. Nothing when the panels carry no layers. */
export function overlayBar(bar: HTMLDivElement, host: Host, rerender: () => void): void {
  if (!hasLayers(host)) return;
  if (!document.getElementById("overlay-style")) {
    const style = document.createElement("style");
    style.id = "overlay-style";
    style.textContent =
      // A margin as the buttons have: wrapped to a line of its own, the legend began on the
      // frame's edge (a 1024 or 1280 px page).
      // Its parts wrap between them (a part wraps inside only when wider than the bar): it
      // did not wrap, so its title and its "max (0.0018)" were squeezed a word a line.
      ".bar .legend{display:inline-flex;flex-wrap:wrap;align-items:center;gap:4px;margin:0 4px;font-size:14px;color:#ddd}" +
      ".bar .legend canvas{border:1px solid #555}.bar .legend-title{color:#aaa}" +
      ".bar .legend-spots{color:#ccc;margin-left:4px}" +
      `.bar .legend-rings-below{color:${BELOW_REGION_COLOUR}}` +
      `.bar .below-swatch{display:inline-block;width:14px;height:9px;border:1.5px dashed ${BELOW_REGION_COLOUR}}` +
      ".bar input.opacity{width:80px;vertical-align:middle}";
    document.head.appendChild(style);
  }
  let g = group(bar);
  const sel = document.createElement("select");
  sel.title = "map shown (M)";
  sel.setAttribute("aria-label", sel.title);
  sel.className = "map-layer";
  for (const name of [...layerNames(host), ""]) {
    const o = document.createElement("option");
    o.value = name;
    o.textContent = name ? `map: ${name}` : "no map";
    o.selected = name === shownMap;
    sel.appendChild(o);
  }
  sel.addEventListener("change", () => {
    shownMap = sel.value;
    rerender();
    host.focus();
  });
  g.appendChild(sel);
  const range = document.createElement("input");
  range.type = "range";
  range.min = "0";
  range.max = "1";
  range.step = "0.05";
  range.value = String(opacity);
  range.title = "opacity of the map ([ and ])";
  range.setAttribute("aria-label", range.title);
  range.className = "opacity";
  range.addEventListener("input", () => {
    opacity = Number(range.value);
    host.redraw();
  });
  g.appendChild(range);
  const l = legend(host);
  if (l) bar.appendChild(l);
  const b = belowLegend(host);
  if (b) bar.appendChild(b);
  g = group(bar);
  g.appendChild(toggle("Regions", showRegions, "top regions: click one for its detail (E)", () => {
    showRegions = !showRegions;
    rerender();
  }));
  if (host.panels().some((p) => p.layers?.detections)) {
    g.appendChild(toggle("Detections", showDetections, "detections (D)", () => {
      showDetections = !showDetections;
      rerender();
    }));
  }
}

/** Predict's keys (when the panels carry layers). */
export function overlayKeys(host: Host, rerender: () => void): Record<string, () => void> {
  if (!hasLayers(host)) return {};
  return {
    m: () => {
      const names = [...layerNames(host), ""];
      shownMap = names[(names.indexOf(shownMap) + 1) % names.length];
      rerender();
    },
    "[": () => {
      opacity = Math.max(0, Number((opacity - 0.1).toFixed(2)));
      rerender();
    },
    "]": () => {
      opacity = Math.min(1, Number((opacity + 0.1).toFixed(2)));
      rerender();
    },
    e: () => {
      showRegions = !showRegions;
      rerender();
    },
    j: () => nextRegion(host),
    d: () => {
      showDetections = !showDetections;
      rerender();
    },
  };
}

export const OVERLAY_HELP: [string, string][] = [
  ["M", "Predict: map shown (probability · explanation · none)"],
  ["[ / ]", "Predict: map opacity down / up"],
  ["E / D", "Predict: regions · detections on / off; click one for its detail"],
  ["J", "Predict: the active panel's next region, its detail opened (as a click on it)"],
];

/** The layers' state for tests: what is drawn, the shown map's range and opacity. */
export function publishOverlays(d: DOMStringMap, host: Host): void {
  if (!hasLayers(host)) return;
  const on: string[] = [];
  if (shownMap) on.push(`map:${shownMap}`);
  if (showRegions) on.push("regions");
  if (showDetections && host.panels().some((p) => p.layers?.detections)) on.push("detections");
  d.overlayLayers = JSON.stringify(on);
  d.mapLayers = JSON.stringify(layerNames(host));
  const m = currentMap(host);
  d.mapRange = m ? JSON.stringify(m.range) : "";
  d.mapOpacity = String(opacity);
  d.regions = String(host.panels().reduce((n, p) => n + (p.layers?.regions.length ?? 0), 0));
  d.detections = String(host.panels().reduce((n, p) => n + (p.layers?.detections?.length ?? 0), 0));
  // Those drawn dashed (below the operating threshold): "regions,detections".
  d.belowThreshold = belowCounts(host).join(",");
  // Where each drawn region's box centre is, in its panel's canvas pixels (for tests).
  const points: [number, string, number, number, number][] = [];
  host.panels().forEach((p, i) => {
    if (!showRegions) return;
    for (const r of p.layers?.regions ?? []) {
      const q = boxCanvas(i, r, host);
      if (q) points.push([i, r.image, r.rank, Math.round(q[0] + q[2] / 2), Math.round(q[1] + q[3] / 2)]);
    }
  });
  d.regionPoints = JSON.stringify(points);
  // Each region's number and box as last drawn: [panel, rank, [x, y, w, h] of the number's
  // tab, [x, y, w, h] of the box], canvas px.
  const tabs: [number, number, Rect, Rect][] = [];
  for (const [i, rows] of regionLabels) for (const [rank, tab, box] of rows) tabs.push([i, rank, tab, box]);
  d.regionLabels = JSON.stringify(tabs);
  // The hot spots drawn: [panel, peak, centre x, centre y, ring radius (0: outline)].
  const spots: [number, number, number, number, number][] = [];
  const drawn = shownMap && opacity > 0 ? shownMap : "";
  host.panels().forEach((p, i) => {
    const layer = p.layers?.maps.find((x) => x.name === drawn);
    if (!layer) return;
    for (const [s, g] of spotShapes(i, p, layer, host)) {
      spots.push([i, s.peak, Math.round(g.x), Math.round(g.y), g.r]);
    }
  });
  d.hotSpots = JSON.stringify(spots);
  // The panels whose rings are drawn dashed and grey (an image the model does not call).
  d.mutedSpots = JSON.stringify(mutedSpotPanels(host));
  d.selectedRegion = selectedRegion;
  d.lastClick = lastClick;
  d.cmap = opts?.cmap ?? "";
}
