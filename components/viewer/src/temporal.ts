// Temporal modes of the reading workstation (Browse): per view, the prior registered onto the
// recent grid (mcalc/present/reading_temporal.py sends it) shown as
//   subtraction - a panel beside the recent one: recent − registered prior, signed values,
//                 its own window (0 = no change);
//   flicker     - the recent panel alternates registered prior / recent at a chosen rate;
//   swipe       - a curtain over the recent panel: registered prior left of a divider.
// Panels on the recent grid share zoom and pan exactly; the prior as filed follows through a
// coarse recent <-> prior lattice from the registration (bilinear here), and so do markers
// placed with the probe tool and the change table's focus. Everything runs in the browser;
// Python is asked once (event "temporal") to register. index.ts calls the hooks exported here.
import * as cs from "@cornerstonejs/core";
import * as tools from "@cornerstonejs/tools";
import { giveWindow } from "./window";
import { group as barGroup } from "./bar";
import { destroySynchronizer } from "./caseswap";
import { drawRegions } from "./regions";
import {
  type Focus,
  type Point,
  type TemporalArgs,
  type TemporalView,
  type Tracked,
  STATUS_COLOURS,
  STATUS_GLYPHS,
  canvasPoint,
  centre,
  cross,
  decode,
  imagePoint,
  mark,
  toPrior,
  toRecent,
} from "./temporal_geometry";

export type { Focus, TemporalArgs } from "./temporal_geometry";

export interface Host {
  root: HTMLDivElement;
  engineId: string;
  groupId: string;
  engine(): cs.RenderingEngine | null;
  viewport(i: number): cs.Types.IStackViewport | null;
  panelKeys(): string[];
  active(): number;
  activate(i: number): void; // make panel i the active one (lit; its view's keys)
  tool(): string;
  overlays(): boolean;
  regions(i: number): [number, number][][] | undefined; // a panel's annotated regions
  linkedPairs(): boolean; // the synchronisation chosen includes prior with recent
  layoutOne(): boolean;
  redraw(): void;
  resize(): void;
  emit(event: Record<string, unknown>): void;
}

type Mode = "off" | "subtraction" | "flicker" | "swipe";
const MODES: Mode[] = ["off", "subtraction", "flicker", "swipe"];
const RATES = [0.5, 1, 2, 3, 4, 6, 8];
export const HELP: [string, string][] = [
  ["T", "temporal mode of the active view: off · subtraction · flicker · swipe"],
  ["K", "flicker (blink) registered prior / recent: start / stop"],
  ["[ / ]", "flicker slower / faster"],
];

interface Slot {
  v: TemporalView;
  prior: number; // panel indexes in the host
  recent: number;
  layer: HTMLDivElement; // registered prior over the recent panel (flicker, swipe)
  sub: HTMLDivElement; // the subtraction panel
  subCanvas: HTMLCanvasElement;
  divider: HTMLDivElement;
  tag: HTMLDivElement;
}

let host: Host | null = null;
let data: TemporalArgs | null = null;
let dataKey = "";
let slots: Slot[] = [];
const modes: Record<string, Mode> = {}; // per view; kept across cases
let rateHz = 2;
let flickerOn = false;
let phase: "prior" | "recent" = "recent";
let timer: number | null = null;
let swipe = 0.5;
let linked: { view: string; recent: Point } | null = null;
let lastFocus = "";
let asked = false;
const drivenUntil: Record<string, number> = {};
const syncs: tools.Synchronizer[] = [];

export function attach(h: Host): void {
  host = h;
}
const layerId = (v: string) => `t-reg-${v}`;
const subId = (v: string) => `t-sub-${v}`;

// ---- viewport coordinates ------------------------------------------------------------------
function vpById(id: string): cs.Types.IStackViewport | null {
  return (host?.engine()?.getViewport(id) as cs.Types.IStackViewport) ?? null;
}
// ---- the prior as filed follows the recent grid through the registration (and back) ------
function follow(s: Slot, from: "recent" | "prior"): void {
  if (!host || !host.linkedPairs() || resizing) return;
  const src = from === "recent" ? s.recent : s.prior;
  const dst = from === "recent" ? s.prior : s.recent;
  const now = performance.now();
  if ((drivenUntil[String(src)] ?? 0) > now) return; // this change came from us
  const vp = host.viewport(src);
  const el = host.root.querySelectorAll<HTMLDivElement>(".panel .vp")[src];
  if (!vp || !el || !el.clientWidth) return; // a hidden panel's camera is of no size
  const c = imagePoint(vp, el.clientWidth / 2, el.clientHeight / 2);
  if (!c) return;
  const target = from === "recent" ? toPrior(s.v, c) : toRecent(s.v, c);
  drivenUntil[String(dst)] = now + 120;
  centre(host.viewport(dst), target, vp.getCamera().parallelScale);
}

// ---- building: images, the layer, the subtraction panel, their synchronisers ---------------
function image(v: TemporalView, what: "reg" | "sub"): string {
  // "mcalc:" ids get the host's metadata (modality, VOI); the key makes them unique.
  const id = `mcalc:${v.recent_key}:t-${what}:${v.rows}x${v.cols}:${dataKey.length}`;
  if (!cs.cache.getImage(id)) {
    const bytes = decode(what === "reg" ? v.registered : v.subtraction);
    const scalarData = what === "reg" ? new Uint16Array(bytes.buffer) : new Int16Array(bytes.buffer);
    if (scalarData.length !== v.rows * v.cols) {
      throw new Error(`${v.view} ${what}: ${scalarData.length} pixels, expected ${v.rows}x${v.cols}`);
    }
    const img = cs.imageLoader.createAndCacheLocalImage(id, {
      scalarData,
      dimensions: [v.cols, v.rows],
      spacing: [v.spacing[1], v.spacing[0]],
    } as unknown as Parameters<typeof cs.imageLoader.createAndCacheLocalImage>[1]);
    giveWindow(img); // else WebGL shows negatives: see window.ts
  }
  return id;
}
function keyOf(t: TemporalArgs | null | undefined): string {
  if (!t) return "";
  if (t.off) return "off";
  return `${t.summary}|` + t.views.map((v) => `${v.recent_key}:${v.registered.length}:${v.subtraction.length}`).join("|");
}
/** Whether ``t`` differs from what is built (then the host rebuilds the case). */
export function changed(t: TemporalArgs | null | undefined): boolean {
  return keyOf(t) !== dataKey;
}

/** Called by the host's showCase once its panels are set: build the temporal parts. */
export async function build(t: TemporalArgs | null | undefined): Promise<void> {
  if (!host) return;
  const h = host;
  stopFlicker();
  for (const s of syncs.splice(0)) destroySynchronizer(s); // all its listeners (caseswap.ts)
  slots = [];
  data = t ?? null;
  dataKey = keyOf(t);
  if (data && !data.off) asked = false;
  const tbar = document.createElement("div");
  tbar.className = "bar tbar";
  h.root.querySelector(".bar")?.after(tbar);
  const engine = h.engine();
  if (!data || !engine) return renderBar();
  const keys = h.panelKeys();
  const panelEls = h.root.querySelectorAll<HTMLDivElement>(".panel");
  const group = tools.ToolGroupManager.getToolGroup(h.groupId);
  const grid = h.root.querySelector(".grid") as HTMLDivElement;
  // Every panel in one row while the viewports are set up (a hidden one has no size).
  grid.style.gridTemplateColumns = `repeat(${keys.length + data.views.length}, 1fr)`;
  for (const v of data.views) {
    const prior = keys.indexOf(v.prior_key);
    const recent = keys.indexOf(v.recent_key);
    if (prior < 0 || recent < 0) continue;
    const panel = panelEls[recent];
    const layer = document.createElement("div");
    layer.className = "tlayer";
    layer.addEventListener("contextmenu", (e) => e.preventDefault());
    (panel.querySelector(".vp") as HTMLDivElement).after(layer);
    const divider = document.createElement("div");
    divider.className = "divider";
    divider.title = "drag: move the curtain (registered prior left, recent right)";
    const tag = document.createElement("div");
    tag.className = "ttag";
    panel.append(divider, tag);
    const sub = document.createElement("div");
    sub.className = "tpanel";
    sub.dataset.view = v.view;
    const subVp = document.createElement("div");
    subVp.className = "tvp";
    subVp.addEventListener("contextmenu", (e) => e.preventDefault());
    const subCanvas = document.createElement("canvas");
    subCanvas.className = "ov";
    const label = document.createElement("div");
    label.className = "label";
    label.textContent = `${v.view} recent − registered prior`;
    const wl = document.createElement("div");
    wl.className = "wl";
    sub.append(subVp, subCanvas, label, wl);
    // It takes the keyboard as the other panels do (Tab, after its recent panel), named by
    // its label; the keys act on it (keyTarget). It took none until 7 December 2026.
    sub.tabIndex = 0;
    sub.setAttribute("role", "img");
    sub.setAttribute("aria-label", label.textContent);
    sub.addEventListener("focus", () => host?.activate(recent)); // T, F: its view's
    panel.after(sub);
    const s: Slot = { v, prior, recent, layer, sub, subCanvas, divider, tag };
    slots.push(s);
    for (const [id, el] of [
      [layerId(v.view), layer],
      [subId(v.view), subVp],
    ] as const) {
      engine.enableElement({
        viewportId: id,
        element: el,
        type: cs.Enums.ViewportType.STACK,
        defaultOptions: { background: [0, 0, 0] as cs.Types.Point3 },
      });
      group?.addViewport(id, h.engineId);
    }
    const base = h.viewport(recent);
    const props = base?.getProperties();
    const lvp = vpById(layerId(v.view)) as cs.Types.IStackViewport;
    await lvp.setStack([image(v, "reg")]);
    lvp.setProperties({ voiRange: props?.voiRange, invert: props?.invert });
    const svp = vpById(subId(v.view)) as cs.Types.IStackViewport;
    await svp.setStack([image(v, "sub")]);
    const [c, w] = v.sub_window;
    svp.setProperties({ voiRange: { lower: c - w / 2, upper: c + w / 2 }, invert: props?.invert });
    for (const vp of [lvp, svp]) {
      vp.resetCamera();
      copyCamera(base, vp);
      vp.render();
    }
    // The layer takes the recent panel's window, the subtraction keeps its own.
    const voi = tools.synchronizers.createVOISynchronizer(`tvoi-${v.view}`, {
      syncInvertState: true,
      syncColormap: false,
    });
    for (const id of [`vp${recent}`, layerId(v.view)]) {
      voi.add({ renderingEngineId: h.engineId, viewportId: id });
    }
    syncs.push(voi);
    // The recent panel, its layer and its subtraction share one grid: the same camera.
    const vpEls = h.root.querySelectorAll<HTMLDivElement>(".panel .vp");
    vpEls[recent].addEventListener(cs.Enums.Events.CAMERA_MODIFIED, () => {
      copyCamera(h.viewport(recent), vpById(layerId(v.view)));
      if (s.sub.style.display !== "none") copyCamera(h.viewport(recent), vpById(subId(v.view)));
      follow(s, "recent");
    });
    for (const [id, el] of [
      [layerId(v.view), layer],
      [subId(v.view), subVp],
    ] as const) {
      el.addEventListener(cs.Enums.Events.CAMERA_MODIFIED, () => {
        if (!resizing) copyCamera(vpById(id), h.viewport(recent));
      });
    }
    vpEls[prior].addEventListener(cs.Enums.Events.CAMERA_MODIFIED, () => follow(s, "prior"));
    subVp.addEventListener(cs.Enums.Events.IMAGE_RENDERED, () => drawSub(s));
    divider.addEventListener("mousedown", (e) => dragDivider(s, e));
    for (const [el, where] of [
      [panelEls[prior], "prior"],
      [panel, "recent"],
      [sub, "sub"],
    ] as const) {
      el.addEventListener("mousedown", (e) => clickMarker(s, where, el, e), true);
    }
  }
  renderBar();
  applyModes(true);
  for (const s of slots) {
    alignSub(s);
    follow(s, "recent");
  }
}

/** The subtraction's viewport element when its panel has the keyboard, else `null`: the
 * keys' zoom, pan and window then act on it as the mouse's wheel and drags do there (its
 * own window; its zoom and pan are the recent panel's, which follows). */
export function keyTarget(): HTMLElement | null {
  const s = slots.find((x) => x.sub === document.activeElement);
  return s ? s.sub.querySelector<HTMLElement>(".tvp") : null;
}

// ---- modes ---------------------------------------------------------------------------------
function modeOf(view: string): Mode {
  return modes[view] ?? "off";
}
function applyModes(resize = false): void {
  if (!host) return;
  for (const s of slots) {
    const m = modeOf(s.v.view);
    const showLayer = m === "swipe" || (m === "flicker" && phase === "prior");
    s.layer.style.visibility = showLayer ? "visible" : "hidden";
    s.layer.style.clipPath = m === "swipe" ? `inset(0 ${((1 - swipe) * 100).toFixed(2)}% 0 0)` : "none";
    s.divider.style.display = m === "swipe" ? "block" : "none";
    s.divider.style.left = `${(swipe * 100).toFixed(2)}%`;
    // Short, beside the panel's title in its strip (it was drawn over the title of a
    // narrow panel: five columns with a subtraction); the title gives way (ellipsis).
    const tag =
      m === "flicker"
        ? `${phase === "prior" ? "reg. prior" : "recent"}${flickerOn ? ` · ${rateHz} Hz` : " · paused"}`
        : m === "swipe"
          ? "reg. prior | recent"
          : "";
    if (s.tag.textContent !== tag) {
      s.tag.textContent = tag;
      s.tag.title = m === "swipe" ? "left: the registered prior; right: the recent exam" : "";
      const label = s.tag.parentElement?.querySelector<HTMLDivElement>(".label");
      if (label) label.style.maxWidth = tag ? `calc(100% - ${s.tag.offsetWidth + 14}px)` : "";
    }
    const show = subShown(s);
    if ((s.sub.style.display !== "none") !== show) resize = true;
    s.sub.style.display = show ? "block" : "none";
  }
  if (!resize) return host.redraw();
  host.resize(); // through whileResizing
}
/** A resize of the grid (a subtraction panel shown or hidden) is under way: the cameras it
 * changes one panel at a time are not the reader's, and were copied between panels (the
 * hidden subtraction's and the layer's to the recent panel, a prior's through the
 * registration): leaving subtraction zoomed the recent panels 1.26x and pushed them 118 px
 * aside, with no key or mouse touched (h/a11y2). */
let resizing = false;
/** The host's resize of its grid (a layout, a subtraction panel shown or hidden), run
 * without those copies; then the layer, the subtraction and the prior follow the recent
 * panel once. */
export function whileResizing(resizeGrid: () => void): void {
  resizing = true;
  try {
    resizeGrid();
  } finally {
    resizing = false;
  }
  for (const s of slots) {
    alignSub(s);
    follow(s, "recent"); // the prior as filed, through the registration
  }
}
/** The layer and a shown subtraction panel take the recent panel's camera. */
function alignSub(s: Slot): void {
  copyCamera(host?.viewport(s.recent) ?? null, vpById(layerId(s.v.view)));
  if (s.sub.style.display !== "none") {
    copyCamera(host?.viewport(s.recent) ?? null, vpById(subId(s.v.view)));
  }
}
// Viewports whose camera is being copied: a copy's CAMERA_MODIFIED must not copy back into
// them. On the CPU path a camera read back is not bit-equal to the one set (pixel
// rounding), so without this the recent panel and its layer copied to each other forever.
const copying = new Set<cs.Types.IStackViewport>();
/** ``dst`` takes ``src``'s camera (panels of one grid and size), unless it has it already.
 * Not from a viewport without a size: a hidden subtraction panel (display: none) has a 0x0
 * canvas, and on the CPU path its camera is NaN (canvas to world divides by its fit scale,
 * 0); the resize that hid it sent that camera to the recent panel, which stayed black. */
function copyCamera(src: cs.Types.IStackViewport | null, dst: cs.Types.IStackViewport | null): void {
  if (!src || !dst || copying.has(dst) || !src.canvas?.width || !src.canvas.height) return;
  const cam = src.getCamera();
  const finite = (p: unknown) => Array.isArray(p) && p.every((x) => Number.isFinite(x));
  if (!finite(cam.focalPoint) || !finite(cam.position) || !Number.isFinite(cam.parallelScale ?? 0)) return;
  const old = dst.getCamera();
  const f = cam.focalPoint as number[];
  const g = old.focalPoint as number[];
  const same =
    Math.abs((cam.parallelScale ?? 0) - (old.parallelScale ?? 0)) < 1e-6 &&
    Math.hypot(f[0] - g[0], f[1] - g[1], f[2] - g[2]) < 1e-6;
  if (same) return;
  const added = [src, dst].filter((vp) => !copying.has(vp));
  added.forEach((vp) => copying.add(vp));
  try {
    dst.setCamera({
      focalPoint: cam.focalPoint,
      position: cam.position,
      parallelScale: cam.parallelScale,
      viewUp: cam.viewUp,
    });
  } finally {
    added.forEach((vp) => copying.delete(vp));
  }
  dst.render();
}
function setMode(view: string, m: Mode): void {
  modes[view] = m;
  const flickering = slots.some((s) => modeOf(s.v.view) === "flicker");
  if (m === "flicker") startFlicker();
  else if (!flickering) stopFlicker();
  renderBar();
  applyModes();
}
function activeView(): string | null {
  if (!host || !slots.length) return null;
  const i = host.active();
  return (slots.find((s) => s.prior === i || s.recent === i) ?? slots[0]).v.view;
}
function startFlicker(): void {
  stopFlicker();
  flickerOn = true;
  timer = window.setInterval(() => {
    phase = phase === "prior" ? "recent" : "prior";
    applyModes();
  }, 1000 / rateHz);
}
function stopFlicker(): void {
  if (timer !== null) window.clearInterval(timer);
  timer = null;
  flickerOn = false;
}
function setRate(r: number): void {
  rateHz = r;
  if (flickerOn) startFlicker();
  renderBar();
  applyModes();
}
function ask(): void {
  if (!data?.off || asked || !host) return;
  asked = true;
  host.emit({ type: "temporal" });
  renderBar();
  host.redraw();
}

/** Keys of the temporal modes; true when ``k`` was one of them (only where offered). */
export function onKey(k: string): boolean {
  if (!data) return false;
  const view = activeView();
  if (k === "t" || k === "T") {
    if (!view) ask();
    else setMode(view, MODES[(MODES.indexOf(modeOf(view)) + 1) % MODES.length]);
    return true;
  }
  if (k === "k" || k === "K") {
    if (!view) ask();
    else if (modeOf(view) !== "flicker") setMode(view, "flicker");
    else {
      if (flickerOn) stopFlicker();
      else startFlicker();
      renderBar();
      applyModes();
    }
    return true;
  }
  if (k === "[" || k === "]") {
    const i = RATES.indexOf(rateHz) + (k === "]" ? 1 : -1);
    setRate(RATES[Math.min(Math.max(i, 0), RATES.length - 1)]);
    return true;
  }
  return false;
}

// ---- the temporal toolbar: per view a mode switch, the rate, the summary and a legend ------
function tbutton(label: string, on: boolean, title: string, action: () => void): HTMLButtonElement {
  const b = document.createElement("button");
  b.textContent = label;
  b.title = title;
  if (on) b.className = "on";
  b.setAttribute("aria-pressed", String(on)); // a toggle: its state for a screen reader
  b.addEventListener("click", (e) => {
    e.preventDefault();
    action();
    host?.root.focus();
  });
  return b;
}
export function renderBar(): void {
  const bar = host?.root.querySelector(".tbar") as HTMLDivElement | null;
  if (!bar) return;
  bar.replaceChildren();
  bar.style.display = data ? "flex" : "none";
  if (!data) return;
  if (data.off) {
    const b = tbutton(
      asked ? "Registering the prior to the recent exam…" : "Temporal views",
      false,
      "register the prior to the recent exam (seconds, once per case): subtraction, flicker, swipe (T)",
      ask,
    );
    b.disabled = asked;
    bar.appendChild(b);
    return;
  }
  if (!slots.length) {
    const why = document.createElement("span");
    why.className = "summary";
    why.textContent = data.summary;
    bar.appendChild(why);
    return;
  }
  for (const s of slots) {
    const g = barGroup(bar); // a view's modes wrap together (index.html's .grp)
    const tag = document.createElement("b");
    tag.textContent = `${s.v.view}:`;
    g.appendChild(tag);
    for (const m of MODES) {
      g.appendChild(
        tbutton(m, modeOf(s.v.view) === m, `${s.v.view}: ${m} (T cycles the active view)`, () =>
          setMode(s.v.view, m),
        ),
      );
    }
  }
  const g = barGroup(bar);
  const rate = document.createElement("select");
  rate.title = "flicker rate, alternations per second ([ and ])";
  rate.setAttribute("aria-label", rate.title);
  for (const r of RATES) {
    const o = document.createElement("option");
    o.value = String(r);
    o.textContent = `${r} Hz`;
    o.selected = r === rateHz;
    rate.appendChild(o);
  }
  rate.addEventListener("change", () => setRate(Number(rate.value)));
  g.appendChild(rate);
  g.appendChild(tbutton(flickerOn ? "■ Stop" : "▶ Flicker", flickerOn, "flicker (K)", () => onKey("k")));
  const summary = document.createElement("span");
  summary.className = "summary";
  summary.textContent = data.summary;
  bar.appendChild(summary);
  const legend = document.createElement("span");
  legend.className = "legend";
  for (const [status, colour] of Object.entries(STATUS_COLOURS)) {
    const item = document.createElement("span");
    item.style.color = colour;
    item.textContent = `● ${STATUS_GLYPHS[status] ?? ""} ${status}`;
    legend.appendChild(item);
  }
  bar.appendChild(legend);
}

// ---- the curtain ---------------------------------------------------------------------------
function dragDivider(s: Slot, ev: MouseEvent): void {
  ev.preventDefault();
  ev.stopPropagation();
  const rect = (s.layer.parentElement as HTMLDivElement).getBoundingClientRect();
  const move = (e: MouseEvent) => {
    swipe = Math.min(Math.max((e.clientX - rect.left) / rect.width, 0), 1);
    applyModes();
  };
  const up = () => {
    window.removeEventListener("mousemove", move);
    window.removeEventListener("mouseup", up);
  };
  window.addEventListener("mousemove", move);
  window.addEventListener("mouseup", up);
}

// ---- a marker placed with the probe tool shows on every panel of the view -----------------
function clickMarker(s: Slot, where: "prior" | "recent" | "sub", el: HTMLElement, ev: MouseEvent): void {
  if (!host || host.tool() !== "probe" || ev.button !== 0) return;
  const x0 = ev.clientX;
  const y0 = ev.clientY;
  const up = (e: MouseEvent) => {
    window.removeEventListener("mouseup", up);
    if (Math.hypot(e.clientX - x0, e.clientY - y0) > 3 || !host) return;
    const rect = el.getBoundingClientRect();
    const vp = where === "sub" ? vpById(subId(s.v.view)) : host.viewport(where === "prior" ? s.prior : s.recent);
    // Inside the borders (the title strip is the top one), where the image is.
    const p = imagePoint(vp, e.clientX - rect.left - el.clientLeft, e.clientY - rect.top - el.clientTop);
    if (!p) return;
    linked = { view: s.v.view, recent: where === "prior" ? toRecent(s.v, p) : p };
    host.redraw();
  };
  window.addEventListener("mouseup", up);
}

// ---- the change table's focus: both rounds centred on the spot ---------------------------
export function applyFocus(f: Focus | null | undefined): void {
  if (!f || !host || f.key === lastFocus) return;
  const s = slots.find((x) => x.v.view === f.view);
  if (!s) return;
  lastFocus = f.key;
  const scale = 12; // mm either side of the spot, vertically
  if (f.recent) {
    centre(host.viewport(s.recent), f.recent, scale);
    linked = { view: s.v.view, recent: f.recent };
  }
  if (f.prior) {
    drivenUntil[String(s.prior)] = performance.now() + 120;
    centre(host.viewport(s.prior), f.prior, scale);
  }
  host.redraw();
}

// ---- drawing -------------------------------------------------------------------------------
function drawItems(ctx: CanvasRenderingContext2D, s: Slot, vp: cs.Types.IStackViewport | null, round: "recent" | "prior"): void {
  if (host?.overlays()) {
    const signed: [number, number, string][] = []; // items signed: one sign per clump and status
    const drawnAt: [number, number][] = [];
    for (const t of s.v.tracked) {
      const p = t[round];
      const q = p && canvasPoint(vp, p);
      if (q) mark(ctx, q, t, signed, drawnAt);
    }
  }
  if (linked && linked.view === s.v.view) {
    const p = round === "recent" ? linked.recent : toPrior(s.v, linked.recent);
    const q = canvasPoint(vp, p);
    if (q) cross(ctx, q);
  }
}
/** Called at the end of the host's drawOverlay for panel ``i``. */
export function drawOn(i: number, ctx: CanvasRenderingContext2D): void {
  for (const s of slots) {
    if (i === s.recent) drawItems(ctx, s, host?.viewport(i) ?? null, "recent");
    else if (i === s.prior) drawItems(ctx, s, host?.viewport(i) ?? null, "prior");
  }
}
function drawSub(s: Slot): void {
  const w = s.sub.clientWidth;
  const h = s.sub.clientHeight;
  const c = s.subCanvas;
  if (c.width !== w || c.height !== h) {
    c.width = w;
    c.height = h;
  }
  const ctx = c.getContext("2d") as CanvasRenderingContext2D;
  ctx.clearRect(0, 0, w, h);
  const vp = vpById(subId(s.v.view));
  // The subtraction lies on the recent panel's grid: its annotated regions, as there.
  if (host?.overlays()) drawRegions(ctx, host.regions(s.recent), (r, c) => canvasPoint(vp, [r, c]));
  drawItems(ctx, s, vp, "recent");
  const voi = vp?.getProperties().voiRange;
  const wl = s.sub.querySelector(".wl") as HTMLDivElement;
  if (voi) {
    const width = voi.upper - voi.lower;
    wl.textContent = `W\u00a0${width.toFixed(0)} L\u00a0${(voi.lower + width / 2).toFixed(0)} (0\u00a0=\u00a0no\u00a0change)`;
  }
}
/** Called by the host's drawAll: the subtraction panels too. */
export function drawAll(): void {
  slots.forEach(drawSub);
}

/** Called by the host's resize: the subtraction panels hide in the one-panel layout. */
/** A view's subtraction panel shows in its subtraction mode; in the one-panel layout,
 * beside the panel shown when that is one of the view's rounds. */
function subShown(s: Slot): boolean {
  if (!host || modeOf(s.v.view) !== "subtraction") return false;
  return !host.layoutOne() || host.active() === s.recent || host.active() === s.prior;
}
export function onResize(): void {
  for (const s of slots) s.sub.style.display = subShown(s) ? "block" : "none";
}
/** Extra grid columns the shown subtraction panels take. */
export function extraColumns(): number {
  return slots.filter(subShown).length;
}
/** Subtraction panels of the "all panels" layout (the layout button counts them). */
export function subtractionPanels(): number {
  return slots.filter((s) => modeOf(s.v.view) === "subtraction").length;
}
/** Whether panel ``i`` (a prior as filed) follows the recent grid through the registration
 * rather than the host's zoom/pan synchroniser. */
export function mapped(i: number): boolean {
  return slots.some((s) => s.prior === i);
}

// ---- state in the DOM for tests ------------------------------------------------------------
export function publish(d: DOMStringMap): void {
  d.temporal = data?.off ? (asked ? "asked" : "off") : slots.map((s) => s.v.view).join(",");
  d.temporalMode = JSON.stringify(Object.fromEntries(slots.map((s) => [s.v.view, modeOf(s.v.view)])));
  d.flicker = flickerOn ? phase : "off";
  d.flickerRate = String(rateHz);
  d.swipe = swipe.toFixed(3);
  d.tracked = String(slots.reduce((n, s) => n + s.v.tracked.length, 0));
  d.focus = lastFocus;
  const out: Record<string, number[]> = {};
  const s = linked && slots.find((x) => x.v.view === linked?.view);
  if (linked && s) {
    const r = linked.recent;
    const p = toPrior(s.v, r);
    out.recent = [Number(r[0].toFixed(2)), Number(r[1].toFixed(2))];
    out.prior = [Number(p[0].toFixed(2)), Number(p[1].toFixed(2))];
  }
  d.linked = JSON.stringify(out);
  const subs: Record<string, number[]> = {};
  for (const x of slots) {
    const voi = vpById(subId(x.v.view))?.getProperties().voiRange;
    if (voi) subs[x.v.view] = [Math.round(voi.lower), Math.round(voi.upper)];
  }
  d.subWindow = JSON.stringify(subs);
}
