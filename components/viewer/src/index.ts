// mcalc's reading workstation: a Streamlit component over Cornerstone3D.
//
// Python sends panels (16-bit pixels as base64, spacing, labels, overlays) once per render;
// everything interactive (zoom, pan, window/level, magnifier, ruler, probe, marks) happens
// here without a rerun. Python hears only small events: next/previous case, save (marks).
// The component's state is mirrored on the root element's data-* attributes for tests.
import { tabMap } from "./tab";
import * as cs from "@cornerstonejs/core";
import * as tools from "@cornerstonejs/tools";
import * as fullres from "./fullres";
import * as ia from "./interact";
import * as rd from "./renderer";
import * as temporal from "./temporal";
import { giveWindow } from "./window";
import { drawn } from "./visible";
import * as ol from "./outlines";
import { drawnLabelPx, tagBeside } from "./labels";
import { drawRegions } from "./regions";
import * as lyr from "./overlays";
import * as px from "./pixels";
import * as swap from "./caseswap";
import * as nb from "./neighbour";
import * as ahead from "./ahead";
import * as keys from "./keys";
import { rebase } from "./rebase";
import { group } from "./bar";

type Point = [number, number]; // (row, col) in the panel's pixel grid
interface Mark {
  id: string;
  row: number;
  col: number;
  label: string;
}
interface Panel {
  key: string;
  label: string;
  view: string; // CC / MLO
  time: string; // prior / recent
  rows: number;
  cols: number;
  scale?: number; // preview pixels per full-resolution pixel (< 1: full image on request)
  spacing: [number, number]; // mm per pixel (row, col) of this grid
  window: [number, number]; // centre, width (the page's: its sidebar's preset)
  file_window?: [number, number]; // the file's own (File W/L, key 0)
  presets: Record<string, [number, number]>; // name -> centre, width (this image's)
  invert: boolean;
  monochrome1?: boolean; // stored with 0 as white: shown as usual with invert on
  pixels?: string; // base64 of little-endian uint16, row-major (or binary: pixel_id)
  pixel_id?: string; // pixels sent apart, once per browser (pixels.ts)
  points: Point[]; // radiologists' calcifications
  outlines: Point[][]; // cluster outlines
  region_outlines?: Point[][]; // regions of a region annotation (ROI, box, circle): regions.ts
  marks?: Mark[]; // reader marks (editable panel only)
  reader_outlines?: ol.Outline[]; // reader outlines (editable panel only)
  marks_base?: number; // the stored version these marks are (editable panel only)
  marks_unsaved?: boolean; // the page holds them unsaved (its comment or labels; a save refused as a conflict)
  marks_followed?: boolean; // a newer version saved elsewhere, loaded by the server this run
  layers?: lyr.Layers; // Predict: maps, regions, detections
}
interface Args {
  case_key: string;
  panels: Panel[];
  height: number;
  editable: string | null; // key of the panel whose marks are edited
  marks_version: number;
  marks_owner?: string | null; // whose marks are edited (the reader): drafts are kept per reader
  labels: string[];
  temporal?: temporal.TemporalArgs | null; // Browse's temporal modes (src/temporal.ts)
  focus?: temporal.Focus | null;
  overlays?: lyr.OverlayArgs | null; // Predict: colour map, opacity, first map
  pixels?: px.Entry[]; // binary panel pixels in this render (pixels.ts)
  pixels_data?: Uint8Array;
  pixels_ahead?: ahead.Ahead | null; // the next case's pixels, fetched apart (ahead.ts)
  neighbours?: nb.Neighbours | null; // cases shown at the N/P key or click (neighbour.ts)
  ask_ahead?: boolean; // once drawn, ask for the next case's pixels (ahead.ts)
}
/** A page without a viewer, where app.py keeps this frame (pages/viewer_component.py
 * `viewer_slot`): the frame goes to height 0 and keeps its case, canvases and images for
 * the next page that shows one. */
interface Hidden {
  hidden: true;
}

const root = document.getElementById("root") as HTMLDivElement;
ia.watchInput(root); // data-input-ms (interact.ts)
const ENGINE = "mcalc-engine";
const GROUP = "mcalc-tools";
const LABEL_COLOURS: Record<string, string> = {
  benign: "#66bb6a",
  suspicious: "#ec407a",
  uncertain: "#ffb300",
};
const LABEL_LETTERS: Record<string, string> = { benign: "B", suspicious: "S", uncertain: "U" };

// ---- Streamlit's component protocol (postMessage), without React -------------------------
function send(type: string, data: Record<string, unknown>): void {
  window.parent.postMessage({ isStreamlitMessage: true, type, ...data }, "*");
}
let seq = 0;
function emit(event: Record<string, unknown>): void {
  seq += 1;
  send("streamlit:setComponentValue", {
    value: { ...event, seq: `${Date.now()}-${seq}` },
    dataType: "json",
  });
}

// ---- state -------------------------------------------------------------------------------
let engine: cs.RenderingEngine | null = null;
let args: Args | null = null;
let caseKey = "";
let marksVersion = -1;
type Layout = "four" | "one";
type Sync = "none" | "pairs" | "views" | "all";
type Tool = "pan" | "magnify" | "ruler" | "probe" | "mark" | "outline";
let layout: Layout = "four";
let active = 0;
let sync: Sync = "all";
let tool: Tool = "pan";
let showOverlays = true;
let marks: Mark[] = [];
let undo: Mark[][] = [];
// Annotate: the unsaved marks and outlines of an image the reader left for another one,
// or left with the page (a page switch unmounts this frame), by image key, with the marks
// version they were made on. Going back to that image brings them back; before, a glance
// at the other view or page wiped them without a word. With a newer version stored there
// meanwhile (another tab or session saved it) they come back unsaved on the stored version
// they were made on (`base`), so Save keeps them as a conflict copy with the choice; they
// were dropped for the newer version.
interface Draft {
  version: number;
  base: number | null;
  marks: Mark[];
  outlines: ol.Outline[];
}
const DRAFTS_SLOT = "__mcalcViewerDrafts";
const frameDrafts = new Map<string, string>();
/** The drafts (JSON text by image key), in the tab (`tabMap`) so that they outlive this
 * frame; only text goes there. This frame's own map where the parent is out of reach. */
function draftStore(): Map<string, string> {
  return tabMap<string, string>(DRAFTS_SLOT)?.map ?? frameDrafts;
}
/** A draft's place: the reader's and the image's. By image alone, reader A's unsaved marks
 * came back in reader B's viewer, as B's, when B opened that image in the same tab after A
 * (a shared workstation: A signed out, or a name typed anew), and B's save stored them as B's. */
const draftSlot = (owner: string, key: string): string => JSON.stringify([owner, key]);
/** Keep the editable image's marks and outlines as a draft when they differ from those loaded. */
function keepDraft(): void {
  if (editableKey === null || marksNow() === loadedMarks) return;
  const draft: Draft = { version: marksVersion, base: loadedBase, marks, outlines: ol.outlinesToSave().outlines };
  draftStore().set(draftSlot(editableOwner, editableKey), JSON.stringify(draft));
}
/** The draft of `owner`'s marks on image `key`, if any; forgotten either way. */
function takeDraft(owner: string, key: string): Draft | undefined {
  const store = draftStore();
  const text = store.get(draftSlot(owner, key));
  store.delete(draftSlot(owner, key));
  return text ? (JSON.parse(text) as Draft) : undefined;
}
window.addEventListener("pagehide", () => {
  // Signed out with these marks discarded, as asked (pages/signin.py's guard): none kept.
  const host = tabHost();
  if (host && editableOwner !== "" && host.__mcalcViewerDiscard === editableOwner) {
    host.__mcalcViewerDiscard = "";
    return;
  }
  keepDraft(); // the frame unmounted: a page switch
});
let loadedMarks = ""; // the editable panel's marks and outlines as loaded (JSON)
// The panel's marks and outlines as loaded, always (JSON; `loadedMarks` is "" while they are
// unsaved on the server): what the reader did here since is carried onto marks the page
// changes in this tab (its Undo, Discard edits: rebase.ts).
let loadedPanel = "[[],[]]";
// The marks are kept on the version they were made on (another tab saved meanwhile): a
// change of the page's marks leaves them there, so that Save keeps them as a conflict copy.
let onOldVersion = false;
// The stored version the loaded marks are, sent back with a save: a tab that loaded an older
// version than the one stored (another tab saved meanwhile) gets a conflict, not a save over
// the other tab's marks (the server's session follows the store; this tab's marks do not).
let loadedBase: number | null = null;
let sentSave = false; // a save or undo sent since the marks were loaded: the answer is loaded
let editableKey: string | null = null; // the image whose marks are loaded
let editableOwner = ""; // whose marks they are (the reader)
const marksNow = (): string => JSON.stringify([marks, ol.outlinesToSave().outlines]);
/** Marks a reload or a closed tab would lose: this image's not saved yet (or the page's
 * unsaved edits of it), or drafts kept for other images of this tab. */
const unsavedInTab = (): boolean =>
  (editableKey !== null && (marksNow() !== loadedMarks || pageUnsaved())) || draftStore().size > 0;
/** Before a reload or a closed tab, the browser asks to confirm while marks are unsaved: both
 * lost them without a word (a radiologist's walk, 7 December 2026). On the tab's window, whose
 * unload loses them; a switch of the app's pages unloads nothing (the drafts stay). Each
 * frame adds its own listener: the browser skips that of a frame since removed. */
function guardUnload(): void {
  const ask = (e: BeforeUnloadEvent): void => {
    if (!unsavedInTab()) return;
    e.preventDefault();
    e.returnValue = ""; // Chrome before 119 asks only when this is set
  };
  try {
    window.parent.addEventListener("beforeunload", ask);
    window.addEventListener("pagehide", () => window.parent.removeEventListener("beforeunload", ask));
  } catch {
    window.addEventListener("beforeunload", ask); // the parent is out of reach
  }
}
guardUnload();
/** The Streamlit page around this frame (the tab's window), or null (another origin). */
function tabHost(): Record<string, unknown> | null {
  try {
    return window.parent as unknown as Record<string, unknown>;
  } catch {
    return null;
  }
}
/** Before a click anywhere in the page (its sign-out among them), say which image has marks
 * unsaved here, whose (`[reader, image]` as the drafts' slots; "" for none): the page's
 * sign-out asks first while the reader has some (pages/signin.py). A capture listener on
 * the window: it runs before the page's own on the document. Only text goes there. */
function reportUnsaved(): void {
  const report = (): void => {
    const host = tabHost();
    if (!host) return;
    const unsaved = editableKey !== null && (marksNow() !== loadedMarks || pageUnsaved());
    host.__mcalcViewerLive = unsaved ? draftSlot(editableOwner, editableKey as string) : "";
  };
  try {
    window.parent.addEventListener("click", report, true);
    window.addEventListener("pagehide", () => {
      window.parent.removeEventListener("click", report, true);
      const host = tabHost();
      if (host) host.__mcalcViewerLive = "";
    });
  } catch {
    // the parent is out of reach: nothing to tell it
  }
}
reportUnsaved();
let selected: string | null = null;
let newLabel = "uncertain";
let lastMarkMs = -1;
let probeText = "";
const synchronizers: tools.Synchronizer[] = [];
const layerHost: lyr.Host = {
  root,
  toCanvas: (i, r, c) => toCanvas(i, r, c),
  panels: () => args?.panels ?? [],
  emit: (e) => emit(e),
  redraw: () => drawAll(),
  focus: () => root.focus(),
  active: () => active,
};
const outlineHost: ol.OutlineHost = {
  root,
  toCanvas: (i, r, c) => toCanvas(i, r, c),
  toImage: (i, x, y) => toImage(i, x, y),
  editable: (i) => (args?.panels[i] && args.panels[i].key === args.editable ? args.panels[i] : null),
  tool: () => tool,
  label: () => newLabel,
  redraw: () => drawAll(),
};

function vpId(i: number): string {
  return `vp${i}`;
}
function imageId(p: Panel): string {
  return px.imageId(p);
}
function viewport(i: number): cs.Types.IStackViewport | null {
  return (engine?.getViewport(vpId(i)) as cs.Types.IStackViewport) ?? null;
}

// ---- image loading: raw 16-bit pixels become Cornerstone local images --------------------
function decode(b64: string): Uint16Array {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return new Uint16Array(bytes.buffer);
}
let imagesMade = 0; // Cornerstone images made from panels' pixels (published: tests, benches)
function ensureImage(p: Panel): string {
  const id = imageId(p);
  if (!cs.cache.getImage(id)) {
    const scalarData = p.pixels ? decode(p.pixels) : px.take(p);
    if (scalarData.length !== p.rows * p.cols) {
      throw new Error(`${p.key}: ${scalarData.length} pixels, expected ${p.rows}x${p.cols}`);
    }
    const image = cs.imageLoader.createAndCacheLocalImage(id, {
      scalarData,
      dimensions: [p.cols, p.rows],
      spacing: [p.spacing[1], p.spacing[0]],
    } as unknown as Parameters<typeof cs.imageLoader.createAndCacheLocalImage>[1]);
    giveWindow(image, p.window); // else WebGL shows negatives: see window.ts
    imagesMade += 1;
  }
  return id;
}
function addMetadata(): void {
  cs.metaData.addProvider((type: string, id: string) => {
    if (!id || !id.startsWith("mcalc:")) return undefined;
    if (type === "generalSeriesModule") return { modality: "MG" };
    if (type === "modalityLutModule") return { rescaleSlope: 1, rescaleIntercept: 0 };
    if (type === "voiLutModule") return { windowCenter: [2048], windowWidth: [4096] };
    return undefined;
  }, 10000);
}

// ---- coordinates -------------------------------------------------------------------------
function toCanvas(i: number, row: number, col: number): [number, number] | null {
  const vp = viewport(i);
  const id = vp?.getCurrentImageId();
  if (!vp || !id) return null;
  const f = fullres.factor(vp, args?.panels[i]);
  const world = cs.utilities.imageToWorldCoords(id, [fullres.toShown(col, f), fullres.toShown(row, f)]);
  if (!world) return null;
  const c = vp.worldToCanvas(world);
  return [c[0], c[1]];
}
function toImage(i: number, x: number, y: number): Point | null {
  const vp = viewport(i);
  const id = vp?.getCurrentImageId();
  if (!vp || !id) return null;
  const ij = cs.utilities.worldToImageCoords(id, vp.canvasToWorld([x, y]));
  if (!ij) return null;
  const f = fullres.factor(vp, args?.panels[i]);
  return [fullres.fromShown(ij[1], f), fullres.fromShown(ij[0], f)];
}

// ---- overlays: radiologists' marks, cluster outlines, reader marks -----------------------
function drawOverlay(i: number): void {
  const panelEl = root.querySelectorAll<HTMLDivElement>(".panel")[i];
  const p = args?.panels[i];
  if (!panelEl || !p) return;
  const canvas = panelEl.querySelector("canvas.ov") as HTMLCanvasElement;
  const [w, h] = ia.sizeOf(panelEl); // no forced layout per panel (interact.ts)
  const ctx = ia.beginOverlay(canvas, w, h, rd.screenRatio()); // blank: untouched (interact.ts)
  lyr.drawUnder(i, ctx, layerHost);
  if (showOverlays) {
    ctx.strokeStyle = "#00e5ff";
    ctx.lineWidth = 1.2;
    for (const [r, c] of p.points) {
      const q = toCanvas(i, r, c);
      if (!q) continue;
      ctx.beginPath();
      ctx.arc(q[0], q[1], 6, 0, 2 * Math.PI);
      ctx.stroke();
    }
    ctx.setLineDash([4, 3]);
    for (const outline of p.outlines) {
      ctx.beginPath();
      outline.forEach(([r, c], k) => {
        const q = toCanvas(i, r, c);
        if (!q) return;
        if (k === 0) ctx.moveTo(q[0], q[1]);
        else ctx.lineTo(q[0], q[1]);
      });
      ctx.closePath();
      ctx.stroke();
    }
    ctx.setLineDash([]);
    drawRegions(ctx, p.region_outlines, (r, c) => toCanvas(i, r, c));
  }
  if (args?.editable === p.key) {
    const lettered: [number, number, string][] = []; // one letter per clump and label
    for (const m of marks) {
      const q = toCanvas(i, m.row, m.col);
      if (!q) continue;
      ctx.strokeStyle = LABEL_COLOURS[m.label] ?? "#fff";
      ctx.lineWidth = m.id === selected ? 3 : 2;
      const s = m.id === selected ? 8 : 6;
      ctx.beginPath();
      ctx.moveTo(q[0] - s, q[1] - s);
      ctx.lineTo(q[0] + s, q[1] + s);
      ctx.moveTo(q[0] + s, q[1] - s);
      ctx.lineTo(q[0] - s, q[1] + s);
      ctx.stroke();
      // Its label as a letter too: benign's green beside uncertain's amber is one colour to
      // a protanope or deuteranope. Close marks of one label share a letter (a zoomed-out
      // clump); the selected mark always has its own.
      const letter = LABEL_LETTERS[m.label] ?? "";
      const x = q[0] + s + 2;
      const y = q[1] - s + 3;
      if (m.id === selected || !lettered.some(([lx, ly, l]) => l === letter && Math.hypot(lx - x, ly - y) < 16)) {
        lettered.push([x, y, letter]);
        tagBeside(ctx, q[0] - s - 2, x, y, letter, LABEL_COLOURS[m.label] ?? "#fff");
      }
    }
  }
  temporal.drawOn(i, ctx);
  ol.drawOutlines(i, ctx, outlineHost, LABEL_COLOURS, LABEL_LETTERS);
  lyr.drawOver(i, ctx, layerHost);
  ia.endOverlay(canvas);
  const vp = viewport(i);
  const wl = panelEl.querySelector(".wl") as HTMLDivElement;
  const voi = vp?.getProperties().voiRange;
  if (voi && vp) {
    const width = voi.upper - voi.lower;
    // No-break spaces: a narrow panel (four in 692 px, 14 px text) wraps the readout
    // between its values, never between a name and its value ("zoom" / "1.00").
    const text = `W\u00a0${width.toFixed(0)} L\u00a0${(voi.lower + width / 2).toFixed(0)}  zoom\u00a0${rd.zoom(vp).toFixed(2)}`;
    if (wl.textContent !== text) wl.textContent = text; // the same text: no layout
  }
}
function drawAll(): void {
  args?.panels.forEach((_, i) => drawOverlay(i));
  // Every mark edit ends here: the save button's count follows (the bar is not redrawn).
  const saveButton = root.querySelector<HTMLButtonElement>(".bar button.save");
  if (saveButton) showSaveState(saveButton);
  temporal.drawAll();
  publish();
}

// ---- state in the DOM for tests ----------------------------------------------------------
function publish(): void {
  if (!args) return;
  const n = args.panels.length;
  const zooms: number[] = [];
  const pans: number[][] = [];
  const windows: number[][] = [];
  const inverts: boolean[] = [];
  for (let i = 0; i < n; i++) {
    const vp = viewport(i);
    if (!vp) continue;
    zooms.push(Number(rd.zoom(vp).toFixed(4)));
    const pan = rd.pan(vp);
    pans.push([Number(pan[0].toFixed(2)), Number(pan[1].toFixed(2))]);
    const voi = vp.getProperties().voiRange;
    windows.push(voi ? [Math.round(voi.lower), Math.round(voi.upper)] : []);
    inverts.push(Boolean(vp.getProperties().invert));
  }
  const d = root.dataset;
  d.case = caseKey;
  d.panels = String(n);
  d.imagesMade = String(imagesMade);
  d.labels = JSON.stringify(args.panels.map((p) => p.label));
  d.layout = layout;
  d.active = String(active);
  d.sync = sync;
  d.tool = tool;
  d.zoom = JSON.stringify(zooms);
  d.pan = JSON.stringify(pans);
  d.window = JSON.stringify(windows);
  d.invert = JSON.stringify(inverts);
  showDisplayState();
  // The layout button counts the panels shown: a subtraction panel makes five ("Four" said).
  const all = root.querySelector<HTMLButtonElement>(".bar button.all");
  const named = allLabel(n + temporal.subtractionPanels());
  if (all && all.textContent !== named) all.textContent = named;
  d.lit = JSON.stringify(Array.from(root.querySelectorAll(".bar button.on"), (b) => b.textContent));
  root.querySelectorAll(".bar button[aria-pressed]").forEach((b) => b.setAttribute("aria-pressed", String(b.classList.contains("on"))));
  d.overlays = String(showOverlays);
  d.labelPx = String(drawnLabelPx()); // on-image text's smallest size drawn (tests)
  d.marks = String(marks.length);
  d.marksBase = loadedBase === null ? "" : String(loadedBase);
  d.selected = selected ?? "";
  d.lastMarkMs = String(lastMarkMs);
  d.inputMs = ia.inputMs(); // the last wheel step or drag move to this frame's drawing
  d.draws = JSON.stringify(drawn); // CPU path: exact draws and W/L drafts (visible.ts)
  d.resizes = String(resizes);
  d.probe = probeText;
  d.measures = JSON.stringify(measures());
  fullres.publish(d);
  px.publish(d);
  swap.publish(d);
  ahead.publish(d);
  nb.publish(d);
  temporal.publish(d);
  lyr.publishOverlays(d, layerHost);
  ol.publishOutlines(d);
}
function measures(): { tool: string; value: number; unit: string }[] {
  const out: { tool: string; value: number; unit: string }[] = [];
  for (const a of tools.annotation.state.getAllAnnotations()) {
    const stats = (a.data as { cachedStats?: Record<string, Record<string, unknown>> }).cachedStats;
    const first = stats ? Object.values(stats)[0] : undefined;
    if (!first) continue;
    const tool = a.metadata?.toolName ?? "";
    if (typeof first.length === "number") {
      out.push({ tool, value: Number(first.length.toFixed(2)), unit: String(first.unit ?? "") });
    } else if (typeof first.value === "number") {
      out.push({ tool, value: first.value, unit: String(first.modalityUnit ?? "") });
    }
  }
  return out;
}

// ---- synchronisation ---------------------------------------------------------------------
function partners(i: number, j: number): boolean {
  const a = args?.panels[i];
  const b = args?.panels[j];
  if (!a || !b) return false;
  if (sync === "all") return true;
  if (sync === "pairs") return a.view === b.view; // prior with recent
  if (sync === "views") return a.time === b.time; // CC with MLO
  return false;
}
function applySync(): void {
  for (const s of synchronizers.splice(0)) swap.destroySynchronizer(s); // caseswap.ts
  if (!args || sync === "none") return publish();
  const groups: number[][] = [];
  args.panels.forEach((_, i) => {
    const g = groups.find((grp) => partners(grp[0], i));
    if (g) g.push(i);
    else groups.push([i]);
  });
  groups.forEach((g, k) => {
    if (g.length < 2) return;
    const zp = rd.createZoomPanSynchronizer(`zp${k}`); // CPU path too (renderer.ts)
    const voi = tools.synchronizers.createVOISynchronizer(`voi${k}`, {
      syncInvertState: true,
      syncColormap: false,
    });
    for (const i of g) {
      if (!temporal.mapped(i))
        zp.add({ renderingEngineId: ENGINE, viewportId: vpId(i) });
      voi.add({ renderingEngineId: ENGINE, viewportId: vpId(i) });
    }
    synchronizers.push(zp, voi);
  });
  publish();
}

// ---- tools -------------------------------------------------------------------------------
const PRIMARY = [{ mouseButton: tools.Enums.MouseBindings.Primary }];
const TOOL_NAMES = {
  pan: tools.PanTool.toolName,
  magnify: tools.MagnifyTool.toolName,
  ruler: tools.LengthTool.toolName,
  probe: tools.ProbeTool.toolName,
};
function setTool(next: Tool): void {
  const group = tools.ToolGroupManager.getToolGroup(GROUP);
  if (!group) return;
  for (const name of Object.values(TOOL_NAMES)) group.setToolPassive(name);
  group.setToolActive(tools.PanTool.toolName, {
    bindings: [{ mouseButton: tools.Enums.MouseBindings.Auxiliary }],
  });
  if (next !== "mark" && next !== "outline") group.setToolActive(TOOL_NAMES[next], { bindings: PRIMARY });
  tool = next;
  root.classList.toggle("marking", next === "mark");
  if (next === "magnify") fullres.checkAll(true);
  renderBar();
  publish();
}
function setupTools(): void {
  for (const T of [
    tools.PanTool,
    tools.ZoomTool,
    ia.WindowLevelTool, // Cornerstone's, without a pixel scan per move (interact.ts)
    tools.MagnifyTool,
    tools.LengthTool,
    tools.ProbeTool,
  ]) {
    tools.addTool(T);
  }
  const group = tools.ToolGroupManager.createToolGroup(GROUP) as tools.Types.IToolGroup;
  for (const name of [
    tools.PanTool.toolName,
    tools.ZoomTool.toolName,
    tools.WindowLevelTool.toolName,
    tools.MagnifyTool.toolName,
    tools.LengthTool.toolName,
    tools.ProbeTool.toolName,
  ]) {
    group.addTool(name);
  }
  group.setToolActive(tools.ZoomTool.toolName, {
    bindings: [{ mouseButton: tools.Enums.MouseBindings.Wheel }],
  });
  group.setToolActive(tools.WindowLevelTool.toolName, {
    bindings: [{ mouseButton: tools.Enums.MouseBindings.Secondary }],
  });
}

// ---- window presets, invert --------------------------------------------------------------
function presetNames(): string[] {
  return args?.panels.length ? Object.keys(args.panels[0].presets) : [];
}
function preset(k: number): void {
  if (!args) return;
  const name = presetNames()[k - 1];
  if (k !== 0 && !name) return;
  // Each image gets its own window (presets follow each image's values): the VOI
  // synchronisers would copy one panel's onto the others, so they rest meanwhile.
  synchronizers.forEach((s) => s.setEnabled(false));
  args.panels.forEach((p, i) => {
    const vp = viewport(i);
    const [c, w] = k === 0 ? p.file_window ?? p.window : p.presets[name] ?? p.window;
    vp?.setProperties({ voiRange: { lower: c - w / 2, upper: c + w / 2 } });
    vp?.render();
  });
  synchronizers.forEach((s) => s.setEnabled(true));
  publish();
}
function toggleInvert(): void {
  args?.panels.forEach((_, i) => {
    const vp = viewport(i);
    if (!vp) return;
    vp.setProperties({ invert: !vp.getProperties().invert });
    vp.render(); // its IMAGE_RENDERED publishes, which lights the button
  });
}
/** The toolbar's window and Invert buttons lit when the images show that: a window
 * preset when every panel has its own window of that name (set from the toolbar, a key
 * or the page's sidebar), Invert when a panel shows inverted from the usual (they were
 * actions only, never lit, so a reader could not tell the sidebar had set them). */
function showDisplayState(): void {
  if (!args) return;
  const a = args;
  const windows = a.panels.map((_, i) => viewport(i)?.getProperties().voiRange);
  const shows = (k: number): boolean => {
    const name = presetNames()[k - 1];
    return a.panels.every((p, i) => {
      const voi = windows[i];
      const [c, w] = k === 0 ? p.file_window ?? p.window : p.presets[name] ?? [NaN, NaN];
      return !!voi && Math.abs(voi.lower - (c - w / 2)) < 0.5 && Math.abs(voi.upper - (c + w / 2)) < 0.5;
    });
  };
  root.querySelectorAll<HTMLButtonElement>(".bar button[data-window]").forEach((b) => {
    b.classList.toggle("on", shows(Number(b.dataset.window)));
  });
  const inverted = a.panels.some((p, i) => {
    const vp = viewport(i);
    return !!vp && Boolean(vp.getProperties().invert) !== Boolean(p.monochrome1);
  });
  root.querySelector<HTMLButtonElement>(".bar button.invert")?.classList.toggle("on", inverted);
}

// ---- marking -----------------------------------------------------------------------------
function pushUndo(): void {
  undo.push(marks.map((m) => ({ ...m })));
  if (undo.length > 200) undo.shift();
}
function nearest(i: number, x: number, y: number, radius = 9): Mark | null {
  let best: Mark | null = null;
  let bestD = radius;
  for (const m of marks) {
    const q = toCanvas(i, m.row, m.col);
    if (!q) continue;
    const d = Math.hypot(q[0] - x, q[1] - y);
    if (d <= bestD) {
      best = m;
      bestD = d;
    }
  }
  return best;
}
let markCounter = 0;
function onMarkDown(i: number, ev: MouseEvent): void {
  if (tool !== "mark" || ev.button !== 0 || !args || args.panels[i].key !== args.editable) return;
  const el = ev.currentTarget as HTMLElement;
  const rect = el.getBoundingClientRect();
  const x = ev.clientX - rect.left;
  const y = ev.clientY - rect.top;
  const hit = nearest(i, x, y);
  if (hit) {
    selected = hit.id;
    pushUndo();
    let moved = false;
    const move = (e: MouseEvent) => {
      const p = toImage(i, e.clientX - rect.left, e.clientY - rect.top);
      if (!p) return;
      moved = true;
      hit.row = p[0];
      hit.col = p[1];
      drawOverlay(i);
    };
    const up = () => {
      window.removeEventListener("mousemove", move);
      window.removeEventListener("mouseup", up);
      if (!moved) undo.pop();
      drawAll();
    };
    window.addEventListener("mousemove", move);
    window.addEventListener("mouseup", up);
  } else {
    const p = toImage(i, x, y);
    const panel = args.panels[i];
    if (!p || p[0] < 0 || p[1] < 0 || p[0] > panel.rows - 1 || p[1] > panel.cols - 1) return;
    pushUndo();
    markCounter += 1;
    const m = { id: `new-${Date.now()}-${markCounter}`, row: p[0], col: p[1], label: newLabel };
    marks.push(m);
    selected = m.id;
  }
  drawAll();
  // From the browser's timestamp of the click to the mark drawn (what the reader waits).
  lastMarkMs = Number((performance.now() - ev.timeStamp).toFixed(2));
  publish();
  ev.preventDefault();
  ev.stopPropagation();
}
function deleteSelected(): void {
  if (tool === "outline") return void (ol.deleteOutline() && drawAll());
  if (!selected) return;
  pushUndo();
  marks = marks.filter((m) => m.id !== selected);
  selected = null;
  drawAll();
}
function labelSelected(label: string): void {
  newLabel = label;
  if (tool === "outline" && ol.relabelOutline(label)) return void (renderBar(), drawAll());
  const m = marks.find((x) => x.id === selected);
  if (m) {
    pushUndo();
    m.label = label;
  }
  renderBar();
  drawAll();
}
/** Undo the last edit: the newest unsaved one here; with nothing unsaved, the last saved
 * edit, which the server undoes as a new version (as the page's Undo does; Ctrl+Z after a
 * save did nothing, a user check, 6 December). */
function undoMark(): void {
  if (tool === "outline" && ol.undoOutline()) return void drawAll();
  const prev = tool === "outline" ? undefined : undo.pop();
  if (!prev) {
    if (args?.editable && marksNow() === loadedMarks) {
      sentSave = true;
      emit({ type: "undo", panel: args.editable, base: loadedBase });
    }
    return;
  }
  marks = prev;
  if (!marks.some((m) => m.id === selected)) selected = null;
  drawAll();
}
/** The editable panel `p`'s marks and outlines, which the page changed, with the reader's
 * unsaved edits done again on them (and on each step of their undo): still unsaved, on
 * the page's version (`marks_base`), so Save stores them on it. */
function carryOnto(p: Panel, version: number): void {
  const [wasMarks, wasOutlines] = JSON.parse(loadedPanel) as [Mark[], ol.Outline[]];
  const now = (p.marks ?? []).map((m) => ({ ...m }));
  marks = rebase(wasMarks, marks, now);
  undo = undo.map((u) => rebase(wasMarks, u, now));
  ol.rebaseOutlines(wasOutlines, p.reader_outlines ?? []);
  if (!marks.some((m) => m.id === selected)) selected = null;
  loadedPanel = JSON.stringify([now, ol.copy(p.reader_outlines ?? [])]);
  loadedMarks = p.marks_unsaved ? "" : loadedPanel;
  loadedBase = p.marks_base ?? null;
  marksVersion = version;
  root.dataset.carried = String(Number(root.dataset.carried ?? "0") + 1); // for tests
}
function save(): void {
  sentSave = true;
  emit({ type: "save", panel: args?.editable, base: loadedBase, marks, ...ol.outlinesToSave() });
}
function outlineTool(): void {
  if (tool === "outline") ol.setOutlineKind(ol.outlineKind() === "cluster" ? "roi" : "cluster");
  setTool("outline");
}

// ---- probe readout -----------------------------------------------------------------------
function probe(i: number, ev: MouseEvent): void {
  const p = args?.panels[i];
  const vp = viewport(i);
  if (!p || !vp) return;
  const el = root.querySelectorAll<HTMLDivElement>(".panel .vp")[i];
  const rect = el.getBoundingClientRect();
  const q = toImage(i, ev.clientX - rect.left, ev.clientY - rect.top);
  if (!q) return;
  const r = Math.round(q[0]);
  const c = Math.round(q[1]);
  root.dataset.pointer = JSON.stringify([i, r, c]);
  if (r < 0 || c < 0 || r >= p.rows || c >= p.cols) {
    setProbe("");
  } else {
    const v = fullres.valueAt(vp, p, q, imageId(p));
    const mm = (p.spacing[0] * r).toFixed(1) + ", " + (p.spacing[1] * c).toFixed(1);
    setProbe(`${p.label}: row ${r} col ${c} (${mm} mm) value ${v}`);
  }
}
/** Show `text` as the probe's readout (the status line under the panels). */
function setProbe(text: string): void {
  probeText = text;
  const status = document.getElementById("status");
  if (status) status.textContent = text;
  root.dataset.probe = text;
}

// ---- layout ------------------------------------------------------------------------------
function gridColumns(): number {
  if (!args) return 1;
  return layout === "one" ? 1 : args.panels.length + temporal.extraColumns();
}
let shownColumns = 0;
let resizes = 0; // resize() calls that resized and drew the panels (published for tests)
let sizedFor = ""; // the panels' CSS sizes and the pixel ratio resize() last sized them for
/** The panels' CSS sizes and the device pixel ratio: what the canvases are sized from. */
function panelSizes(): string {
  const sizes = Array.from(root.querySelectorAll<HTMLElement>(".panel"), (el) => `${el.clientWidth}x${el.clientHeight}`);
  return `${window.devicePixelRatio}:${sizes.join(",")}`;
}
/** The frame's window was resized: resize the panels only when their sizes changed. The
 * frame's height follows the viewer's content (setFrameHeight), and the panels' height is
 * the grid's, in CSS pixels: a new frame's first height (every page visit) resized the
 * window but no panel, and drew every panel a second time for nothing. */
function onWindowResize(): void {
  if (panelSizes() !== sizedFor) resize();
}
/** The panels' height: the page's, or less where the browser's window is shorter, so that
 * the toolbar and whole panels fit in it. A projector's 1280x720, or a browser zoom of
 * 150-200 % (a window 384-512 CSS pixels tall), showed 560-600 px panels of which no image
 * could be seen whole (h/a11y). Whether the height changed. */
const MIN_PANEL_HEIGHT = 240;
function fittedHeight(grid: HTMLDivElement, height: number): string {
  let room = Infinity;
  try {
    const above = grid.getBoundingClientRect().top - root.getBoundingClientRect().top;
    room = window.parent.innerHeight - above - 40; // the status line and the page's margin
  } catch {
    /* another origin: the page's height */
  }
  return `${Math.round(Math.max(MIN_PANEL_HEIGHT, Math.min(height, room)))}px`;
}
function fitHeight(grid: HTMLDivElement): boolean {
  if (!args) return false;
  const h = fittedHeight(grid, args.height);
  if (grid.style.height === h) return false;
  grid.style.height = h;
  return true;
}
/** The browser's window changed height alone: this frame's window keeps its size (the
 * frame's height is the viewer's content), so only the page's window says so; the panels
 * kept the old height until the next case or a change of width (h/a11y2). Once the
 * resizing pauses, and only when the fitted height differs. */
let parentResizeTimer = 0;
function onParentResize(): void {
  window.clearTimeout(parentResizeTimer);
  parentResizeTimer = window.setTimeout(() => {
    const grid = root.querySelector<HTMLDivElement>(".grid");
    if (!args || !grid || hidden || fittedHeight(grid, args.height) === grid.style.height) return;
    resize();
    fitFrame();
  }, 150);
}
function watchParentHeight(): void {
  try {
    const page = window.parent;
    if (page === window) return;
    page.addEventListener("resize", onParentResize);
    // A frame Streamlit removes leaves no handler on the page behind it.
    window.addEventListener("pagehide", () => page.removeEventListener("resize", onParentResize));
  } catch {
    /* another origin: the frame's own resize only */
  }
}
function resize(): void {
  if (!args || !engine) return;
  resizes += 1;
  const grid = root.querySelector(".grid") as HTMLDivElement;
  const columns = gridColumns();
  // Narrower panels (a subtraction column, four panels again) or shorter ones (the window's
  // height): fit the images anew, else the kept camera crops them.
  const shorter = fitHeight(grid);
  const refit = columns > shownColumns || shorter;
  shownColumns = columns;
  grid.style.gridTemplateColumns = `repeat(${columns}, 1fr)`;
  root.querySelectorAll<HTMLDivElement>(".panel").forEach((el, i) => {
    el.style.display = layout === "one" && i !== active ? "none" : "block";
    el.classList.toggle("active", i === active);
  });
  temporal.onResize();
  const grown = engine;
  temporal.whileResizing(() => grown.resize(true, !refit));
  sizedFor = panelSizes();
  drawAll();
}
function setLayout(next: Layout): void {
  layout = next;
  renderBar();
  resize();
}

/** The keys of every viewer; ``MARK_HELP``'s and the marking tool's only where marks are
 * edited (Annotate): Browse's help listed A, B / U / X, Delete, Ctrl+Z and Ctrl+S, which do
 * nothing there. */
function baseHelp(marking: boolean): [string, string][] {
  return [
    ["Wheel", "zoom"],
    ["Left drag", `pan (or the tool chosen: magnifier, ruler, probe${marking ? ", mark" : ""})`],
    ["Middle drag", "pan"],
    ["Right drag", "window / level"],
    ["Tab · Shift+Tab", "the toolbar, then each panel (the panel with the keyboard is the active one)"],
    ["+ · −", "zoom the active panel in · out"],
    ["Shift+arrows", "pan the active panel"],
    ["Alt+arrows", "window (← →: narrower, wider) / level (↑ ↓) of the active panel"],
    ["0 · 1 · 2 · 3", "window of the file · presets"],
    ["I", "invert"],
    ["O", "overlays on / off"],
    marking
      ? ["G / Z / R / V / A", "pan · magnifier · ruler (mm) · probe · mark"]
      : ["G / Z / R / V", "pan · magnifier · ruler (mm) · probe"],
    ["F", "one panel (the active one) / all panels"],
    ["S", "synchronisation: all · prior-recent · CC-MLO · none"],
  ];
}
const MARK_HELP: [string, string][] = [
  ["Enter", "with the mark tool: a mark at the active panel's centre (the circle), or select the mark there"],
  ["B / U / X", "label of the selected or next mark: benign · uncertain · suspicious"],
  ["Delete", "delete the selected mark"],
  ["Ctrl+Z", "undo the last mark edit (nothing unsaved: the last saved one, saved as a new version)"],
  ["Ctrl+S", "save marks (on the page around the viewer too)"],
];
/** The keys of this page: the marking, temporal, layer and outline keys only where they act. */
function helpRows(a: Args): [string, string][] {
  const marking = Boolean(a.editable);
  return [
    ...baseHelp(marking),
    ...(marking ? MARK_HELP : []),
    ["N / → ,  P / ←", "next / previous case"],
    ...(a.temporal ? temporal.HELP : []),
    ...(a.overlays ? lyr.OVERLAY_HELP : []),
    ...(marking ? ol.OUTLINE_HELP : []),
    ["?", "this help (Esc closes)"],
  ];
}

/** A toolbar button. `on`: a toggle, lit (and `aria-pressed`, for a screen reader) while
 * on; `null`: an action. Pressed from the keyboard (Enter, Space) the keyboard stays on it
 * (it went to the panels, so a reader tabbing along the toolbar started over each time). */
function button(label: string, on: boolean | null, title: string, action: () => void): HTMLButtonElement {
  const b = document.createElement("button");
  b.textContent = label;
  b.title = title;
  if (on) b.className = "on";
  if (on !== null) b.setAttribute("aria-pressed", String(on));
  b.addEventListener("click", (e) => {
    e.preventDefault();
    action();
    const again = e.detail === 0 ? root.querySelector<HTMLButtonElement>(`.bar button[title="${CSS.escape(b.title)}"]`) : null;
    (again ?? root).focus({ preventScroll: true }); // it is where the pointer is
  });
  return b;
}
const saveLabel = () => `Save marks (${marks.length})`;
/** The page holds edits of this image not saved yet (Annotate's comment, a label or a
 * deletion made under the viewer, a save refused as a conflict): this button saves them. */
const pageUnsaved = (): boolean => Boolean(args?.panels.find((p) => p.key === args?.editable)?.marks_unsaved);
/** The save button's count, and whether anything is left to save: green while the marks or
 * outlines differ from those loaded (the last save's), or the page holds unsaved edits
 * (this is Annotate's one save in the viewer: the page's own Save, beside it, dropped the
 * marks placed here), muted once they are saved. It looked the same before and after a
 * save, so a reader could not tell (a user check, 6 December). */
function showSaveState(b: HTMLButtonElement): void {
  const label = saveLabel();
  if (b.textContent !== label) b.textContent = label;
  const unsaved = marksNow() !== loadedMarks || pageUnsaved();
  b.classList.toggle("unsaved", unsaved);
  b.title = unsaved ? "save marks (Ctrl+S): not saved yet" : "every mark is saved (Ctrl+S saves again)";
}
/** The "all panels" layout by what it shows: Annotate and Predict show two. */
const allLabel = (n: number) => ({ 2: "Two", 3: "Three", 4: "Four", 5: "Five", 6: "Six" })[n] ?? `All ${n}`;
function renderBar(): void {
  const bar = root.querySelector(".bar") as HTMLDivElement | null;
  if (!bar || !args) return;
  bar.replaceChildren();
  // Controls in groups: the bar wraps between them, not inside one (a 692 px frame).
  let g = group(bar);
  const n = args.panels.length;
  if (n > 1) {
    const all = button(allLabel(n + temporal.subtractionPanels()), layout === "four", "all panels (F)", () => setLayout("four"));
    all.classList.add("all");
    g.appendChild(all);
    g.appendChild(button("One", layout === "one", "the active panel only (F)", () => setLayout("one")));
    g = group(bar);
  }
  const sel = document.createElement("select");
  sel.title = "synchronise zoom, pan and window across (S)";
  sel.setAttribute("aria-label", sel.title);
  for (const [v, t] of [
    ["all", n === 2 ? "sync both" : n === 4 ? "sync all four" : "sync all"],
    ["pairs", "sync prior–recent"],
    ["views", "sync CC–MLO"],
    ["none", "no sync"],
  ]) {
    const o = document.createElement("option");
    o.value = v;
    o.textContent = t;
    o.selected = v === sync;
    sel.appendChild(o);
  }
  sel.addEventListener("change", () => {
    sync = sel.value as Sync;
    applySync();
  });
  g.appendChild(sel);
  g = group(bar);
  for (const [t, name, key] of [
    ["pan", "Pan", "G"],
    ["magnify", "Magnifier", "Z"],
    ["ruler", "Ruler mm", "R"],
    ["probe", "Probe", "V"],
  ] as const) {
    g.appendChild(button(name, tool === t, `${name} (${key})`, () => setTool(t)));
  }
  if (args.editable) {
    g = group(bar);
    g.appendChild(button("Mark", tool === "mark", "add / move marks (A)", () => setTool("mark")));
    g.appendChild(button(`Outline ${ol.outlineKind()}`, tool === "outline", "draw a cluster / ROI outline (C)", outlineTool));
    g = group(bar);
    for (const l of args.labels) {
      g.appendChild(button(l, newLabel === l, "label of the selected or next mark", () => labelSelected(l)));
    }
    g = group(bar);
    g.appendChild(button("Undo", null, "undo the last mark edit; with nothing unsaved, the last saved one (Ctrl+Z)", undoMark));
    const s = button(saveLabel(), null, "save marks (Ctrl+S)", save);
    s.classList.add("save");
    showSaveState(s);
    g.appendChild(s);
  }
  g = group(bar);
  const fileWindow = button("File W/L", false, "the file's window (0)", () => preset(0));
  fileWindow.dataset.window = "0";
  g.appendChild(fileWindow);
  presetNames().forEach((name, k) => {
    const b = button(name, false, `${name} window (${k + 1})`, () => preset(k + 1));
    b.dataset.window = String(k + 1);
    g.appendChild(b);
  });
  g = group(bar);
  const invert = button("Invert", false, "invert (I)", toggleInvert);
  invert.classList.add("invert");
  g.appendChild(invert);
  g.appendChild(button("Overlays", showOverlays, "overlays (O)", () => {
    showOverlays = !showOverlays;
    renderBar();
    drawAll();
  }));
  lyr.overlayBar(bar, layerHost, () => (renderBar(), drawAll()));
  g = group(bar);
  g.appendChild(button("◀ Case", null, "previous case (P)", () => emit({ type: "previous" })));
  g.appendChild(button("Case ▶", null, "next case (N)", () => emit({ type: "next" })));
  const keysButton = button("?", null, "keyboard shortcuts (?)", toggleHelp);
  keysButton.setAttribute("aria-label", "keyboard shortcuts");
  g.appendChild(keysButton);
}
function fillHelp(help: HTMLDivElement, a: Args): void {
  help.innerHTML = "<b>Reading controls</b><table></table>";
  const table = help.querySelector("table") as HTMLTableElement;
  for (const [key, what] of helpRows(a)) {
    const tr = table.insertRow();
    tr.insertCell().textContent = key;
    tr.insertCell().textContent = what;
  }
}
function toggleHelp(show?: boolean): void {
  const help = document.getElementById("help") as HTMLDivElement;
  const on = show ?? help.style.display !== "block";
  if (on && args) fillHelp(help, args); // the page's keys now (a name entered: marking)
  help.style.display = on ? "block" : "none";
  root.dataset.help = String(on);
}

const SYNC_ORDER: (Sync)[] = ["all", "pairs", "views", "none"];
/** The active panel made `i`, lit (a click or the keyboard's focus on it). */
function activate(i: number): void {
  active = i;
  root.querySelectorAll(".panel").forEach((q, k) => q.classList.toggle("active", k === active));
  publish();
}
function onKey(ev: KeyboardEvent): void {
  const k = ev.key;
  if (keys.ownedByControl(ev.target, ev)) return;
  const g = keys.gesture(ev);
  const sub = temporal.keyTarget(); // the subtraction panel has the keyboard: no marks there
  const el = sub ?? root.querySelectorAll<HTMLElement>(".panel .vp")[active];
  if (g && el && (g.kind !== "click" || (tool === "mark" && !sub))) {
    ev.preventDefault();
    void keys.play(el, g);
    return;
  }
  // Ctrl+Z and Ctrl+S act where marks are edited; elsewhere they are the browser's.
  if (args?.editable && (ev.ctrlKey || ev.metaKey) && k.toLowerCase() === "z") return void (ev.preventDefault(), undoMark());
  if (args?.editable && (ev.ctrlKey || ev.metaKey) && k.toLowerCase() === "s") return void (ev.preventDefault(), save());
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (temporal.onKey(k)) return void ev.preventDefault();
  const actions: Record<string, () => void> = {
    ...lyr.overlayKeys(layerHost, () => (renderBar(), drawAll())),
    c: () => args?.editable && outlineTool(),
    n: () => (emit({ type: "next" }), showNeighbour("next")),
    ArrowRight: () => (emit({ type: "next" }), showNeighbour("next")),
    p: () => (emit({ type: "previous" }), showNeighbour("previous")),
    ArrowLeft: () => (emit({ type: "previous" }), showNeighbour("previous")),
    "0": () => preset(0),
    "1": () => preset(1),
    "2": () => preset(2),
    "3": () => preset(3),
    i: toggleInvert,
    o: () => {
      showOverlays = !showOverlays;
      renderBar();
      drawAll();
    },
    g: () => setTool("pan"),
    z: () => setTool("magnify"),
    r: () => setTool("ruler"),
    v: () => setTool("probe"),
    a: () => args?.editable && setTool("mark"),
    f: () => setLayout(layout === "one" ? "four" : "one"),
    s: () => {
      sync = SYNC_ORDER[(SYNC_ORDER.indexOf(sync) + 1) % SYNC_ORDER.length];
      applySync();
      renderBar();
    },
    b: () => labelSelected("benign"),
    u: () => labelSelected("uncertain"),
    x: () => labelSelected("suspicious"),
    Delete: deleteSelected,
    Backspace: deleteSelected,
    "?": () => toggleHelp(),
    Escape: () => toggleHelp(false),
  };
  const act = actions[k] ?? actions[k.toLowerCase()];
  if (act) {
    ev.preventDefault();
    act();
  }
}

// ---- building the panels for a case ------------------------------------------------------
function message(text: string): void {
  root.innerHTML = `<div id="msg"></div>`;
  (document.getElementById("msg") as HTMLDivElement).textContent = text;
  root.dataset.error = text;
  send("streamlit:setFrameHeight", { height: 80 });
}

async function showCase(a: Args): Promise<void> {
  setProbe(""); // the last case's readout goes with it; the pointer's next move reads anew
  if (await swap.swap(a, swapHost)) return; // the same viewer, new images
  swap.reset();
  engine?.destroy();
  tools.annotation.state.removeAllAnnotations();
  for (const s of synchronizers.splice(0)) swap.destroySynchronizer(s); // caseswap.ts
  root.innerHTML = "";
  const bar = document.createElement("div");
  bar.className = "bar";
  const grid = document.createElement("div");
  grid.className = "grid";
  grid.style.height = `${a.height}px`;
  const status = document.createElement("div");
  status.id = "status";
  const help = document.createElement("div");
  help.id = "help";
  fillHelp(help, a);
  root.append(bar, grid, status, help);
  if (layout === "one" && active >= a.panels.length) active = 0;

  engine = new cs.RenderingEngine(ENGINE);
  a.panels.forEach((p, i) => {
    const panel = document.createElement("div");
    panel.className = "panel";
    panel.dataset.key = p.key;
    const el = document.createElement("div");
    el.className = "vp";
    el.addEventListener("contextmenu", (e) => e.preventDefault());
    const ov = document.createElement("canvas");
    ov.className = "ov";
    const label = document.createElement("div");
    label.className = "label";
    label.textContent = p.label;
    const wl = document.createElement("div");
    wl.className = "wl";
    panel.append(el, ov, label, wl);
    grid.appendChild(panel);
    ia.watchSize(panel, () => drawOverlay(i));
    // Each panel takes the keyboard (Tab), named by its label for a screen reader; the
    // panel with the keyboard is the active one, which the keys act on.
    panel.tabIndex = 0;
    panel.setAttribute("role", "img");
    panel.setAttribute("aria-label", p.label);
    panel.addEventListener("focus", () => activate(i));
    el.addEventListener("mousedown", (e) => {
      activate(i);
      if (!ol.onOutlineDown(i, e, outlineHost)) onMarkDown(i, e);
    }, true);
    lyr.watchClicks(i, el, layerHost);
    // Capture on the panel: the tools stop the move events they handle on the element.
    panel.addEventListener("mousemove", (e) => probe(i, e), true);
    el.addEventListener(cs.Enums.Events.IMAGE_RENDERED, () => {
      drawOverlay(i);
      ia.publishSoon(publish); // once per frame, not once per panel
      fullres.check(i);
    });
  });
  grid.style.gridTemplateColumns = `repeat(${layout === "one" ? 1 : a.panels.length}, 1fr)`;
  shownColumns = layout === "one" ? 1 : a.panels.length; // the cameras below fit these
  const panels = root.querySelectorAll<HTMLDivElement>(".panel .vp");
  panels.forEach((el) => rd.opaqueCanvas(el)); // CPU path: opaque canvases (renderer.ts)
  engine.setViewports(
    a.panels.map((_, i) => ({
      viewportId: vpId(i),
      element: panels[i],
      type: cs.Enums.ViewportType.STACK,
      defaultOptions: { background: [0, 0, 0] as cs.Types.Point3 },
    })),
  );
  const group = tools.ToolGroupManager.getToolGroup(GROUP);
  a.panels.forEach((_, i) => group?.addViewport(vpId(i), ENGINE));
  await Promise.all(
    a.panels.map(async (p, i) => {
      const vp = viewport(i) as cs.Types.IStackViewport;
      await vp.setStack([ensureImage(p)]);
      const [c, w] = p.window;
      vp.setProperties({ voiRange: { lower: c - w / 2, upper: c + w / 2 }, invert: p.invert });
      vp.resetCamera(); // drawn once, by resize() below (each render copies the canvas)
    }),
  );
  await finishCase(a);
  swap.builtFor(a);
}
/** The end of showing a case, built or swapped (caseswap.ts). */
async function finishCase(a: Args): Promise<void> {
  setTool(tool === "mark" && !a.editable ? "pan" : tool);
  await temporal.build(a.temporal);
  applySync();
  renderBar();
  resize();
  send("streamlit:setFrameHeight", { height: root.scrollHeight + 4 });
}
const swapHost: swap.Host = {
  root,
  engine: () => engine,
  viewport,
  ensureImage: (p) => ensureImage(p as Panel),
  synchronizers: () => synchronizers,
  finish: (a) => finishCase(a as Args),
};

/** The case `dir` leads to, shown now when this browser holds its pixels (neighbour.ts). */
function showNeighbour(dir: nb.Direction): void {
  const n = args && !args.editable && !args.overlays ? nb.pick(dir, caseKey) : null;
  if (!n || !args || px.lacking(n.panels as Panel[])) return;
  const a: Args = {
    ...args,
    case_key: n.case_key,
    panels: n.panels as Panel[],
    pixels: [],
    pixels_data: undefined,
    pixels_ahead: null,
    focus: null,
    neighbours: null,
  };
  nb.set(null); // a second key before the run: the run decides
  nb.counted();
  // Once the page's message to the server is out (neighbour.ts `afterSend`): drawn before
  // it, the swap held the page's main thread and the run started that much later.
  nb.afterSend(() => {
    pending = pending.then(() => (px.lacking(a.panels) ? undefined : onRender(a, true)));
  });
}

/** The Cornerstone images of the cases Next and Previous lead to, made as soon as their
 * pixels are here (neighbour.ts): a swap at the click then only sets them. */
function imagesAhead(): void {
  if (!args || args.editable || args.overlays) return;
  for (const dir of ["next", "previous"] as nb.Direction[]) {
    const n = nb.pick(dir, caseKey);
    const panels = (n?.panels ?? []) as Panel[];
    if (!panels.length || px.lacking(panels)) continue;
    for (const p of panels) {
      if (cs.cache.getImage(imageId(p))) continue;
      try {
        ensureImage(p);
        nb.madeAhead();
      } catch {
        return; // the swap at the click makes it, or says why it cannot
      }
    }
  }
}

type KeptView = { camera: cs.Types.ICamera; voi?: cs.Types.VOIRange; invert?: boolean };
/** Each shown panel's camera and window, by panel key. */
function keptViews(): Map<string, KeptView> {
  const kept = new Map<string, KeptView>();
  (args?.panels ?? []).forEach((p, i) => {
    const vp = viewport(i);
    if (!vp) return;
    const { voiRange, invert } = vp.getProperties();
    kept.set(p.key, { camera: vp.getCamera(), voi: voiRange, invert });
  });
  return kept;
}
/** Give the panels of `a` that were shown before their camera and window back. */
function restoreViews(a: Args, kept: Map<string, KeptView>): void {
  synchronizers.forEach((s) => s.setEnabled(false)); // each panel its own, as it was
  a.panels.forEach((p, i) => {
    const k = kept.get(p.key);
    const vp = viewport(i);
    if (!k || !vp) return;
    vp.setCamera(k.camera);
    if (k.voi) vp.setProperties({ voiRange: k.voi, invert: k.invert });
  });
  synchronizers.forEach((s) => s.setEnabled(true));
  drawAll();
  publish();
}

let pending: Promise<void> = Promise.resolve(); // renders and answers, one after the other
let hidden = false;
/** The frame's height, after every render: a frame kept across a page switch (app.py's
 * slot) may show another page's height, or 0 from a page that hid it, while its case is
 * the same one (no `finishCase`); Streamlit sometimes dropped the height sent then (a
 * kept frame 72 px taller than its content: docs/measurements.md, 5 December). */
function fitFrame(): void {
  root.dataset.hidden = hidden ? "1" : ""; // a page without a viewer shows this frame (tests)
  send("streamlit:setFrameHeight", { height: hidden ? 0 : root.scrollHeight + 4 });
}
async function onRenderOrHide(a: Args | Hidden): Promise<void> {
  if ("hidden" in a) {
    hidden = true;
    fitFrame();
    return;
  }
  hidden = false;
  try {
    renderedOn = window.parent.location.pathname;
  } catch {
    renderedOn = ""; // another origin: Ctrl+S on the page is the browser's
  }
  if (args && a.height !== args.height) {
    const grid = root.querySelector(".grid") as HTMLDivElement | null;
    if (grid) grid.style.height = `${a.height}px`;
  }
  await onRender(a);
  fitFrame();
  // Once more after the frame took its height (the retained frame of a page switch is
  // shown only when the run draws it again): the height then lands on a mounted frame.
  requestAnimationFrame(fitFrame);
}
async function onRender(a: Args, early = false): Promise<void> {
  const started = performance.now();
  if (!early) nb.set(a.neighbours);
  if (!early) await ahead.arrived(); // pixels fetched ahead, under way (ahead.ts)
  await px.receive(a.pixels, a.pixels_data, a.panels);
  const newCase = a.case_key !== caseKey || temporal.changed(a.temporal);
  // The same case with its temporal views asked for or put away: the panels are built
  // again, each keeping the zoom, pan and window the reader left it with.
  const views = newCase && a.case_key === caseKey ? keptViews() : null;
  const fetchAhead = () =>
    ahead.start(a.pixels_ahead, (i, d) => px.receive(i, d).then(() => (imagesAhead(), publish())));
  if (newCase && px.request(a.panels, emit)) return void (fetchAhead(), await px.receiveRest()); // shown when its pixels are here
  if (!early) ahead.ask(a, emit); // the render with the case's pixels came: the next case's
  const before = args?.panels;
  args = a;
  lyr.setOverlays(a.overlays, newCase, layerHost);
  const editable = a.panels.find((p) => p.key === a.editable);
  // Another tab or session saved this image's marks and the server loaded them while the
  // reader has unsaved marks here: keep them, on the version they were made on, so that
  // Save keeps them as a conflict copy with the choice (they were dropped unseen).
  const keepUnsaved =
    !newCase && !sentSave && a.marks_version !== marksVersion && editable?.marks_followed && a.editable === editableKey && marksNow() !== loadedMarks;
  // The page changed the marks in this tab (its Undo, Discard edits, a deletion or label
  // under Selected, a restore) while the reader has edits here not saved: they are done
  // again on the page's marks (rebase.ts); they were dropped unseen.
  const carry =
    !newCase && !sentSave && a.marks_version !== marksVersion && editable !== undefined && a.editable === editableKey && marksNow() !== loadedPanel;
  if (keepUnsaved || (carry && onOldVersion)) {
    marksVersion = a.marks_version;
    loadedMarks = ""; // still unsaved
    onOldVersion = true;
  } else if (carry && editable) {
    carryOnto(editable, a.marks_version);
  } else if (a.marks_version !== marksVersion || newCase) {
    if (newCase) keepDraft();
    marksVersion = a.marks_version;
    sentSave = false;
    marks = (editable?.marks ?? []).map((m) => ({ ...m }));
    ol.loadOutlines(editable?.reader_outlines);
    // Marks the server holds unsaved (its save was refused as a conflict) show as unsaved.
    loadedPanel = marksNow();
    loadedMarks = editable?.marks_unsaved ? "" : loadedPanel;
    loadedBase = editable?.marks_base ?? null;
    onOldVersion = false;
    const draft = editable ? takeDraft(a.marks_owner ?? "", editable.key) : undefined;
    // Saved elsewhere since the draft was left: the stored version moved past its base.
    const movedOn = draft?.base != null && (editable?.marks_base ?? -1) > draft.base;
    if (draft && newCase && (draft.version === a.marks_version || movedOn)) {
      marks = draft.marks; // unsaved, as the reader left them: "Save marks" saves them
      ol.loadOutlines(draft.outlines);
      if (movedOn) {
        loadedBase = draft.base; // a save names it: a conflict copy, not a save on top
        loadedMarks = ""; // still unsaved
        onOldVersion = true;
      }
    }
    editableKey = a.editable ?? null;
    editableOwner = a.marks_owner ?? "";
    undo = [];
    selected = null;
  }
  if (newCase) {
    caseKey = a.case_key;
    // Keep the images of the previous case only (bounded memory: cache size is capped).
    try {
      await showCase(a);
      if (views) restoreViews(a, views);
    } catch (e) {
      message(`The viewer could not show this case: ${(e as Error).message}`);
      return;
    }
    px.rendered(started);
  } else {
    synchronizers.forEach((s) => s.setEnabled(false)); // each panel its own window
    px.applyDisplay(before, a.panels, viewport);
    synchronizers.forEach((s) => s.setEnabled(true));
    // A label may change on the same case: "not editable: give your name" became
    // "marking" when the name was given (the panels are not built again for it).
    root.querySelectorAll<HTMLDivElement>(".grid > .panel").forEach((el, i) => {
      const label = el.querySelector(".label");
      const text = a.panels[i]?.label;
      if (text === undefined) return;
      if (label && label.textContent !== text) label.textContent = text;
      // the panel's name for the keyboard and a screen reader says the same
      if (el.getAttribute("aria-label") !== text) el.setAttribute("aria-label", text);
    });
    renderBar();
    temporal.renderBar();
    drawAll();
  }
  await fullres.upgradeAll();
  temporal.applyFocus(a.focus);
  // The cases Next and Previous lead to, when the tab kept their pixels (a return to the
  // page: the server counts them as held, neighbour.ts), with the pixels sent ahead.
  for (const dir of ["next", "previous"] as nb.Direction[]) px.restore((nb.pick(dir, caseKey)?.panels ?? []) as Panel[]);
  await px.receiveRest(); // the next case's pixels, once this one is drawn
  imagesAhead();
  fetchAhead();
  fullres.prefetch(); // its full images, ahead of a zoom (after the next case's pixels)
}

let renderedOn = ""; // the page's path (Annotate's, Browse's) at the last render
/** Ctrl+S on the page around the viewer (Annotate's comment field, its buttons) is the
 * viewer's Save marks, the one save there: it was the browser's own Save page, which saved
 * nothing. The frame is the app's own origin, so it listens on the page's document; a
 * text field given its text first (Streamlit sends a field's text on Enter or when it
 * loses the keyboard), so that the save has the comment typed; the field keeps the
 * keyboard. Only while marks are edited here; Streamlit's own keys (R, C) are not Ctrl+S,
 * and the event goes on to them. */
function watchPageSave(): void {
  let doc: Document;
  try {
    doc = window.parent.document;
  } catch {
    return; // another origin: the viewer's own Ctrl+S only
  }
  if (doc === document) return;
  const onPageKey = (ev: KeyboardEvent): void => {
    // The page drawn around this frame is not the one whose arguments it holds: another page
    // (Browse) shows it before its own run's render reaches it.
    const samePage = doc.location.pathname === renderedOn;
    if (hidden || !samePage || !args?.editable || ev.altKey || ev.shiftKey || !(ev.ctrlKey || ev.metaKey) || ev.key.toLowerCase() !== "s") return;
    ev.preventDefault();
    // Only a text field: a list's search box closes its list when it loses the keyboard.
    const field = doc.activeElement as HTMLElement | null;
    const typed = field?.tagName === "TEXTAREA" || (field?.tagName === "INPUT" && field.getAttribute("role") !== "combobox");
    if (field && typed) {
      field.blur();
      field.focus();
    }
    save();
  };
  doc.addEventListener("keydown", onPageKey, true);
  window.addEventListener("pagehide", () => doc.removeEventListener("keydown", onPageKey, true));
}

async function main(): Promise<void> {
  try {
    await cs.init();
    rd.choose(root.dataset); // WebGL, or the CPU path on software WebGL (renderer.ts)
    cs.cache.setMaxCacheSize(512 * 1024 * 1024);
    addMetadata();
    tools.init();
    setupTools();
  } catch (e) {
    message(`The viewer cannot start in this browser: ${(e as Error).message}`);
    return;
  }
  root.dataset.renderer = cs.getShouldUseCPURendering() ? "cpu" : "webgl";
  fullres.bind({
    viewport,
    panels: () => args?.panels ?? [],
    caseKey: () => caseKey,
    publish,
    queue: (f) => void (pending = pending.then(f)),
  });
  temporal.attach({
    root,
    engineId: ENGINE,
    groupId: GROUP,
    engine: () => engine,
    viewport,
    panelKeys: () => args?.panels.map((p) => p.key) ?? [],
    active: () => active,
    activate,
    tool: () => tool,
    overlays: () => showOverlays,
    regions: (i: number) => args?.panels[i]?.region_outlines,
    linkedPairs: () => sync === "all" || sync === "pairs",
    layoutOne: () => layout === "one",
    redraw: drawAll,
    resize,
    emit,
  });
  root.addEventListener("keydown", onKey);
  watchPageSave();
  for (const name of [
    tools.Enums.Events.ANNOTATION_COMPLETED,
    tools.Enums.Events.ANNOTATION_MODIFIED,
    tools.Enums.Events.ANNOTATION_REMOVED,
  ]) {
    cs.eventTarget.addEventListener(name, () => publish());
  }
  // The pointer over the images gives them the keyboard, unless the page's text field or
  // list has it (a name being typed went to the viewer's shortcuts). Without scrolling:
  // the frame is where the pointer is, and a page that grew under a still pointer (Predict
  // opened from Browse's button) scrolled down to the frame's top, its title and scores
  // out of sight (docs/measurements.md, h/presenter3).
  root.addEventListener("mouseenter", () => {
    const inside = document.hasFocus() && document.activeElement !== root && root.contains(document.activeElement);
    if (!inside && !keys.pageIsTyping()) root.focus({ preventScroll: true });
  });
  window.addEventListener("resize", onWindowResize);
  watchParentHeight();
  nb.watchButtons(showNeighbour);
  window.addEventListener("message", (ev: MessageEvent) => {
    const data = ev.data;
    if (data?.type === "mcalc:fullres-answer") pending = pending.then(fullres.answer(data));
    if (data?.type !== "streamlit:render") return;
    pending = pending.then(() => onRenderOrHide(data.args as Args | Hidden));
  });
  send("streamlit:componentReady", { apiVersion: 1 });
}

void main();
