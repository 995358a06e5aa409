// Full-resolution pixels for the reading viewer (hooks in index.ts).
//
// Panels arrive at preview scale (panel.scale < 1 for images larger than the preview).
// When a panel is zoomed near that scale (one preview pixel covers 3/4 of a screen pixel
// or more) or the magnifier is picked, the viewer asks Python once for the full-resolution
// values of every panel of the case still missing: one message to the full-resolution
// channel, a sibling frame (src/channel.ts), whose fragment answers, without rerunning the
// page, with every image ready (a prefetched case: all of them at once). Each answer is
// index entries (raw16: the little-endian uint16 values as they are; or zlib-delta16:
// zlib of row-differenced values, see mcalc/present/fullres.py), each with a `url` (one
// of the session's media files: fetched here by a worker, all in parallel, off the
// websocket and the main thread) or, without a media store or after a fetch failed (asked
// again `inline`), its bytes in the answer, handed over by the channel as a message.
// Fetching and inflating (the browser's DecompressionStream) run in workers, each image
// shown as soon as it is there, kept in
// Cornerstone's cache under a byte budget (least recently used first out) and swapped
// into their viewports keeping camera, window and invert: W/L stays on the true 16-bit
// values at every zoom, and the preview stays on screen until the full image is there.
//
// Asked earlier: once a case is shown (prefetch(), from index.ts), its images are asked for
// and fetched ahead, within the byte budget, and kept unshown; the zoom past the preview
// (or the magnifier) then swaps in those already here and waits only for the rest. The
// viewer's clock (data-fullres-ms) runs from that zoom, the moment the reader needs them,
// to the last one drawn. A prefetched image whose fetch fails is forgotten (asked again at
// the zoom), never asked for inline.
//
// Panel coordinates (marks, overlays, probe) stay in the preview's grid: factor() tells
// index.ts how many pixels of the shown image one panel pixel spans.
import * as cs from "@cornerstonejs/core";
import { cacheLocalImage, range } from "./localimage";
import { undoRowDiff } from "./rowdiff";
import { renders } from "./visible";
import { giveWindow } from "./window";

export interface Entry {
  key: string;
  rows: number;
  cols: number;
  spacing: [number, number]; // mm per pixel (row, col)
  codec: string;
  offset: number;
  length: number;
  url?: string; // its bytes are this media file's (fetched here, in a worker), not the answer's
}
interface PanelLike {
  key: string;
  rows: number;
  cols: number;
  scale?: number; // preview pixels per full-resolution pixel
}
interface Held {
  id: string;
  bytes: number;
  used: number;
  cols: number;
}
export interface Context {
  viewport: (i: number) => cs.Types.IStackViewport | null;
  panels: () => PanelLike[];
  caseKey: () => string;
  publish: () => void;
  queue: (f: () => Promise<void>) => void; // after the renders and answers under way (index.ts)
}
/** What the channel hands over: one or more images of a case and their bytes. */
export interface Answer {
  type: "mcalc:fullres-answer";
  case: string;
  index: Entry[];
  data: Uint8Array;
}

const CODEC = "zlib-delta16";
const RANGE = "bytes=0-"; // see fetchImage
const RAW16 = "raw16";
const PREFIX = "mcalc-full:";
// Full-resolution images kept in the browser (bytes of uint16 values); Cornerstone's own
// cache (index.ts) is larger, so this budget is what bounds them.
export const BUDGET_BYTES = 384 * 1024 * 1024;
const ASK_AGAIN_MS = 30_000; // an answer lost (a rerun interrupted): ask again after this
// Ask when one preview pixel spans this many screen pixels: a little before the preview
// runs out of detail (at 1), so the full image is usually there when it is needed.
const ASK_AT_MAGNIFICATION = 0.75;
// A shown case's images are asked for this long after it is drawn, if it is still on
// screen: a reader flipping through cases (N, N, ...) does not fetch 100 MB per case; one who
// stays a second is looking at it, and a zoom comes later than that (the bench zooms 2-4 s on).
const PREFETCH_AFTER_MS = 1000;

const held = new Map<string, Held>(); // image key -> its full-resolution image
const colsOf = new Map<string, number>(); // Cornerstone image id -> columns
const asked = new Map<string, number>(); // image key -> when it was asked for
// The case whose panels show their full images (zoomed past the preview, the magnifier);
// the images of any other are kept unshown (asked ahead) until its own zoom.
let engaged: string | null = null;
// Keys asked for ahead whose answer has not come: the zoom asks for them again at once
// (an answer lost would otherwise hold it ASK_AGAIN_MS; the channel answers only the last).
const ahead = new Set<string>();
let prefetchTimer: ReturnType<typeof setTimeout> | undefined;
let ctx: Context | null = null;
let askedAt = -1;
let lastMs = -1; // from the request to the last full image shown
let firstMs = -1; // from the request to the first full image shown
let lastAsk: { type: string; case: string; keys: string[]; prefetch?: boolean } | null = null;
let requests = 0;
let failed = "";
// Where the time of the last arrival went (epoch ms, comparable across frames), for benches.
const abs = (): number => Math.round(performance.timeOrigin + performance.now());
let timing: Record<string, unknown> = {};
const supported = typeof DecompressionStream !== "undefined";

export function bind(c: Context): void {
  ctx = c;
  // The metadata Cornerstone's CPU path reads for every image (the previews get theirs in
  // index.ts, for "mcalc:" ids): without it a full image never showed on the CPU path.
  cs.metaData.addProvider((type: string, id: string) => {
    if (!id || !id.startsWith(PREFIX)) return undefined;
    if (type === "generalSeriesModule") return { modality: "MG" };
    if (type === "modalityLutModule") return { rescaleSlope: 1, rescaleIntercept: 0 };
    if (type === "voiLutModule") return { windowCenter: [2048], windowWidth: [4096] };
    return undefined;
  }, 10000);
  // A channel that (re)starts says so: a request it may have missed goes again.
  window.addEventListener("message", (ev: MessageEvent) => {
    if (ev.data?.type !== "mcalc:fullres-hello" || !lastAsk || askedAt < 0) return;
    const keys = lastAsk.keys.filter((k) => !fullId(k));
    if (keys.length) post({ ...lastAsk, keys });
  });
}

function wanted(p: PanelLike): boolean {
  return typeof p.scale === "number" && p.scale < 1;
}

function fullId(key: string): string | null {
  const h = held.get(key);
  if (!h) return null;
  if (!cs.cache.getImage(h.id)) {
    // Cornerstone's cache let it go: forget it (it will be asked for again).
    held.delete(key);
    return null;
  }
  return h.id;
}

/** Pixels of the viewport's current image per pixel of the panel's (preview) grid. */
export function factor(vp: cs.Types.IStackViewport | null, p?: PanelLike): number {
  const id = vp?.getCurrentImageId();
  const cols = id ? colsOf.get(id) : undefined;
  if (!cols || !p) return 1;
  return cols / p.cols;
}

/** How far (in shown pixels) the preview's first pixel centre lies into a shown image of
 * f pixels per preview pixel. Preview pixel j spans full pixels j*f .. (j+1)*f. WebGL puts
 * an image's origin at its first pixel's centre: that centre is (f-1)/2 full pixels in
 * (full images are placed to match: originOf). Cornerstone's CPU path puts the origin at
 * the first pixel's corner, which both grids share: 0. */
function inset(f: number): number {
  return cs.getShouldUseCPURendering() ? 0 : (f - 1) / 2;
}

/** Panel coordinate x (preview pixels) -> the coordinate of the shown image (f of its
 * pixels per preview pixel), on the same spot of the screen. */
export function toShown(x: number, f: number): number {
  return x * f + inset(f);
}

/** The inverse of toShown. */
export function fromShown(x: number, f: number): number {
  return (x - inset(f)) / f;
}

/** Where a full-resolution image's origin lies (world, mm) so that its pixels fall exactly
 * on the preview's (origin at 0): no shift when it is swapped in (was up to half a preview
 * pixel, the two paths placing an image's origin differently). */
function originOf(e: Entry): cs.Types.Point3 {
  const p = ctx?.panels().find((q) => q.key === e.key);
  if (!p) return [0, 0, 0];
  return [-inset(e.cols / p.cols) * e.spacing[1], -inset(e.rows / p.rows) * e.spacing[0], 0];
}

/** The true value at panel coordinates q (row, col): from the full image when shown. */
export function valueAt(
  vp: cs.Types.IStackViewport | null,
  p: PanelLike,
  q: [number, number],
  previewId: string,
): number {
  const f = factor(vp, p);
  const id = f !== 1 ? vp?.getCurrentImageId() : previewId;
  const image = id ? cs.cache.getImage(id) : undefined;
  if (!image) return NaN;
  const cols = Math.round(p.cols * f);
  const r = Math.round(toShown(q[0], f));
  const c = Math.round(toShown(q[1], f));
  return image.getPixelData()[r * cols + c];
}

/** Screen pixels per pixel of the image the viewport shows. */
function magnification(vp: cs.Types.IStackViewport): number {
  const id = vp.getCurrentImageId();
  if (!id) return 0;
  const a = cs.utilities.imageToWorldCoords(id, [0, 0]);
  const b = cs.utilities.imageToWorldCoords(id, [1, 0]);
  if (!a || !b) return 0;
  const ca = vp.worldToCanvas(a);
  const cb = vp.worldToCanvas(b);
  return Math.hypot(cb[0] - ca[0], cb[1] - ca[1]) * (window.devicePixelRatio || 1);
}

/** Ask for the case's full-resolution images when panel i is zoomed past its preview (or
 * always, with force: the magnifier). One event covers every panel still missing. */
export function check(i: number, force = false): void {
  if (!ctx || !supported) return;
  const panels = ctx.panels();
  const p = panels[i];
  const vp = ctx.viewport(i);
  const c = ctx.caseKey();
  if (!p || !vp || !wanted(p) || (engaged === c && fullId(p.key))) return;
  if (!force && magnification(vp) < ASK_AT_MAGNIFICATION) return;
  const now = performance.now();
  const fresh = engaged !== c;
  engaged = c;
  const missing = panels
    .filter((q) => wanted(q) && !fullId(q.key))
    .filter((q) => ahead.has(q.key) || now - (asked.get(q.key) ?? -Infinity) > ASK_AGAIN_MS)
    .map((q) => q.key);
  if (fresh || (askedAt < 0 && missing.length)) {
    // The reader needs them now: the clock starts here, whatever was asked ahead.
    askedAt = now;
    firstMs = -1;
    lastMs = -1;
    const before = timing.case === c ? timing : { images: [] };
    timing = { ...before, case: c, asked: abs() };
  }
  if (fresh && panels.some((q) => wanted(q) && fullId(q.key))) ctx.queue(upgradeAll); // here
  if (missing.length) ask(c, missing, false);
  if (fresh || missing.length) ctx.publish();
}

/** Ask the channel for `keys` of case `c` (prefetch: ahead of the zoom, best effort). */
function ask(c: string, keys: string[], prefetch: boolean): void {
  const now = performance.now();
  for (const k of keys) {
    asked.set(k, now);
    if (prefetch) ahead.add(k);
    else ahead.delete(k);
  }
  if (prefetch && timing.case !== c) timing = { case: c, images: [] };
  if (prefetch) timing.prefetched = abs();
  requests += 1;
  lastAsk = { type: "mcalc:fullres-ask", case: c, keys, ...(prefetch ? { prefetch } : {}) };
  post(lastAsk);
}

/** Ask for the shown case's full images ahead of a zoom (index.ts, once a case is drawn):
 * PREFETCH_AFTER_MS later if the case is still on screen, those not here nor asked for. The
 * budget keeps them (evict() never drops the shown case's). */
export function prefetch(): void {
  if (!ctx || !supported) return;
  clearTimeout(prefetchTimer);
  const c = ctx.caseKey();
  prefetchTimer = setTimeout(() => {
    if (!ctx || ctx.caseKey() !== c) return; // gone
    const now = performance.now();
    const keys = ctx
      .panels()
      .filter((q) => wanted(q) && !fullId(q.key))
      .filter((q) => now - (asked.get(q.key) ?? -Infinity) > ASK_AGAIN_MS)
      .map((q) => q.key);
    if (keys.length) ask(c, keys, true);
    ctx.publish();
  }, PREFETCH_AFTER_MS);
}

/** To the channel: every frame beside this one (opened alone, to this window). */
function post(msg: Record<string, unknown>): void {
  const parent = window.parent;
  if (parent === window) {
    window.postMessage(msg, "*");
    return;
  }
  for (let i = 0; i < parent.frames.length; i++) {
    const f = parent.frames[i];
    if (f !== window) f.postMessage(msg, "*");
  }
}

export function checkAll(force = false): void {
  ctx?.panels().forEach((_, i) => check(i, force));
}

/** Inflate and undo the row differences (zlib-delta16) -> the image's uint16 values. It also
 * runs in the inflating worker (its source text goes there, undoRowDiff's beside it). */
export async function decode(data: Uint8Array, rows: number, cols: number): Promise<Uint16Array> {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(new DecompressionStream("deflate"));
  const buf = await new Response(stream).arrayBuffer();
  if (buf.byteLength !== 2 * rows * cols) {
    throw new Error(`full image: ${buf.byteLength} bytes, expected ${rows}x${cols} uint16`);
  }
  const out = new Uint16Array(buf); // little-endian, as every browser's platform is
  return undoRowDiff(out, rows, cols);
}

/** A raw16 answer's values read as they arrive into one buffer of the image's size (no
 * chunks gathered and joined, as `arrayBuffer()` does), their range scanned meanwhile,
 * while the rest is still on its way. Self-contained: it also runs in the fetching worker
 * (its source text goes there). */
export async function readRaw16(
  res: Response,
  rows: number,
  cols: number,
): Promise<{ values: Uint16Array; min: number; max: number }> {
  const want = 2 * rows * cols;
  const buf = new ArrayBuffer(want);
  const bytes = new Uint8Array(buf);
  const values = new Uint16Array(buf); // little-endian, as every browser's platform is
  let got = 0;
  let scanned = 0;
  let min = Infinity;
  let max = -Infinity;
  const fill = (chunk: Uint8Array): void => {
    if (got + chunk.byteLength > want) {
      throw new Error(`full image: more than ${want} bytes, expected ${rows}x${cols} uint16`);
    }
    bytes.set(chunk, got);
    got += chunk.byteLength;
    const upto = got >> 1; // whole values so far
    for (let i = scanned; i < upto; i++) {
      const v = values[i];
      if (v < min) min = v;
      if (v > max) max = v;
    }
    scanned = upto;
  };
  if (res.body) {
    const reader = res.body.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      fill(value);
    }
  } else {
    fill(new Uint8Array(await res.arrayBuffer()));
  }
  if (got !== want) throw new Error(`full image: ${got} bytes, expected ${rows}x${cols} uint16`);
  return { values, min, max };
}

// Inflating runs in workers: the page's frames share one main thread, where it would hold
// up drawing and Streamlit's own messages (the next image's request among them). Two of
// them: an answer that arrives while the previous one is still inflating (the server's
// encodes run ahead, so arrivals bunch) starts at once on the other core.
const WORKERS = Math.max(1, Math.min(2, navigator.hardwareConcurrency || 2));
let pool: Worker[] | null | undefined;
let jobs = 0;
const busy = new Map<Worker, number>(); // jobs under way per worker
/** A worker's result: the values and their range (scanned in the worker, off the main
 * thread: localimage.ts), and for a fetched image the time its fetch took. */
interface Got {
  values: Uint16Array;
  min: number;
  max: number;
  fetchMs?: number;
}

/** `values` with their range, scanned here (where no worker could). */
function ranged(values: Uint16Array, fetchMs?: number): Got {
  const [min, max] = range(values);
  return { values, min, max, fetchMs };
}
const waiting = new Map<number, { ok: (v: Got) => void; fail: (e: Error) => void; w: Worker }>();

function makeWorker(url: string): Worker {
  const worker = new Worker(url);
  worker.onmessage = (ev: MessageEvent) => {
    const { id, buf, error, fetchMs, min, max } = ev.data as {
      id: number;
      buf?: ArrayBuffer;
      error?: string;
      fetchMs?: number;
      min: number;
      max: number;
    };
    const w = waiting.get(id);
    waiting.delete(id);
    busy.set(worker, Math.max(0, (busy.get(worker) ?? 1) - 1));
    if (!w) return;
    if (buf) w.ok({ values: new Uint16Array(buf), min, max, fetchMs });
    else w.fail(new Error(error ?? "the inflating worker failed"));
  };
  worker.onerror = () => {
    // A worker that cannot run (a browser's policy): inflate here from now on.
    pool = null;
    for (const w of waiting.values()) w.fail(new Error("the inflating worker stopped"));
    waiting.clear();
  };
  busy.set(worker, 0);
  return worker;
}

/** The least busy inflating worker, or null where workers cannot run. */
function getWorker(): Worker | null {
  if (pool === undefined) {
    try {
      // The worker's source: these functions' text, which names nothing of the bundle but
      // undoRowDiff (a declaration under the bundle's name for it, the name decode calls).
      const body = `${undoRowDiff.toString()}
const decode = ${decode.toString()};
const range = ${range.toString()};
const readRaw16 = ${readRaw16.toString()};
self.onmessage = async (ev) => {
  const { id, url, codec, rows, cols } = ev.data;
  let data = ev.data.data;
  try {
    const t0 = performance.now();
    if (url) {
      const res = await fetch(url, { headers: { Range: "${RANGE}" } });
      if (!res.ok) throw new Error("HTTP " + res.status + " for " + url);
      if (codec === "${RAW16}") {
        const { values, min, max } = await readRaw16(res, rows, cols);
        const t1 = performance.now();
        self.postMessage({ id, buf: values.buffer, min, max, bytes: values.byteLength, fetchMs: t1 - t0, inflateMs: 0 }, [values.buffer]);
        return;
      }
      data = new Uint8Array(await res.arrayBuffer());
    }
    const t1 = performance.now();
    let out;
    if (codec === "${RAW16}") {
      if (data.byteLength !== 2 * rows * cols) throw new Error("full image: " + data.byteLength + " bytes, expected " + rows + "x" + cols + " uint16");
      out = new Uint16Array(data.buffer, data.byteOffset, rows * cols);
      if (data.byteOffset || data.buffer.byteLength !== data.byteLength) out = out.slice();
    } else {
      out = await decode(data, rows, cols);
    }
    const [min, max] = range(out);
    const t2 = performance.now();
    self.postMessage({ id, buf: out.buffer, min, max, bytes: data.byteLength, fetchMs: t1 - t0, inflateMs: t2 - t1 }, [out.buffer]);
  } catch (e) {
    self.postMessage({ id, error: String(e && e.message || e) });
  }
};`;
      const url = URL.createObjectURL(new Blob([body], { type: "text/javascript" }));
      pool = Array.from({ length: WORKERS }, () => makeWorker(url));
    } catch {
      pool = null;
    }
  }
  if (!pool?.length) return null;
  return pool.reduce((a, b) => ((busy.get(b) ?? 0) < (busy.get(a) ?? 0) ? b : a));
}

function inflate(data: Uint8Array, rows: number, cols: number): Promise<Got> {
  const here = () => decode(data, rows, cols).then((values) => ranged(values));
  const w = getWorker();
  if (!w) return here();
  jobs += 1;
  const id = jobs;
  const bytes = data.slice(); // the worker's own copy (moved there): data stays for a retry
  busy.set(w, (busy.get(w) ?? 0) + 1);
  return new Promise<Got>((ok, fail) => {
    waiting.set(id, { ok, fail, w });
    w.postMessage({ id, data: bytes, rows, cols }, [bytes.buffer as ArrayBuffer]);
  }).catch(here);
}

/** The media URL as this frame must ask for it, absolute (a worker resolves it too): the
 * component's files are served under the app's base path (`<base>/component/<name>/...`),
 * the media under `<base>` (as ahead.ts). */
function resolve(url: string): string {
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) return url; // absolute already (tests: data:)
  const path = window.location.pathname;
  const at = path.indexOf("/component/");
  return new URL(`${at > 0 ? path.slice(0, at) : ""}${url}`, window.location.href).href;
}

/** Fetch an image's bytes from its media URL and decode them (codec), in a worker: the
 * images of an answer are fetched in parallel, and neither the bytes nor the inflating
 * pass through the page's main thread. Asked as a range (all of it): Streamlit's server
 * gzips a whole media answer of a type not known to be compressed, at level 9, for
 * every fetch (seconds for an image here; zlib-delta16 is compressed already, raw16 is
 * for a fast link), and leaves a partial (206) answer as it is. */
function fetchImage(e: Entry): Promise<Got> {
  const url = resolve(e.url ?? "");
  const here = async (): Promise<Got> => {
    const t0 = performance.now();
    const res = await fetch(url, { headers: { Range: RANGE } });
    if (!res.ok) throw new Error(`HTTP ${res.status} for ${url}`);
    if (e.codec === RAW16) {
      const { values, min, max } = await readRaw16(res, e.rows, e.cols);
      return { values, min, max, fetchMs: performance.now() - t0 };
    }
    const data = new Uint8Array(await res.arrayBuffer());
    const fetchMs = performance.now() - t0;
    const values = await decode(data, e.rows, e.cols); // raw16 returned above
    return ranged(values, fetchMs);
  };
  const w = getWorker();
  if (!w) return here();
  jobs += 1;
  const id = jobs;
  busy.set(w, (busy.get(w) ?? 0) + 1);
  return new Promise<Got>((ok, fail) => {
    waiting.set(id, { ok, fail, w });
    w.postMessage({ id, url, codec: e.codec, rows: e.rows, cols: e.cols });
  });
}

/** raw16: the values as they came (a view, no copy, when aligned). */
async function raw16(data: Uint8Array, rows: number, cols: number): Promise<Uint16Array> {
  if (data.byteLength !== 2 * rows * cols) {
    throw new Error(`full image: ${data.byteLength} bytes, expected ${rows}x${cols} uint16`);
  }
  const aligned = data.byteOffset % 2 === 0 ? data : data.slice();
  return new Uint16Array(aligned.buffer, aligned.byteOffset, rows * cols); // little-endian
}

/** Resolves when the viewport has drawn (its next IMAGE_RENDERED), or after `ms`. */
function drawn(vp: cs.Types.IStackViewport, ms = 20_000): Promise<void> {
  return new Promise((ok) => {
    const el = vp.element;
    const done = () => {
      el.removeEventListener(cs.Enums.Events.IMAGE_RENDERED, done);
      clearTimeout(timer);
      ok();
    };
    const timer = setTimeout(done, ms);
    el.addEventListener(cs.Enums.Events.IMAGE_RENDERED, done);
  });
}

function shownIds(): Set<string> {
  const ids = new Set<string>();
  ctx?.panels().forEach((_, i) => {
    const id = ctx?.viewport(i)?.getCurrentImageId();
    if (id) ids.add(id);
  });
  return ids;
}

function evict(): void {
  const shown = shownIds();
  for (const p of ctx?.panels() ?? []) {
    const h = held.get(p.key);
    if (h) shown.add(h.id); // the case on screen's, shown or prefetched
  }
  let total = 0;
  for (const h of held.values()) total += h.bytes;
  const oldest = [...held.entries()].sort((a, b) => a[1].used - b[1].used);
  for (const [key, h] of oldest) {
    if (total <= BUDGET_BYTES) break;
    if (shown.has(h.id)) continue;
    cs.cache.removeImageLoadObject(h.id, { force: true });
    held.delete(key);
    colsOf.delete(h.id);
    total -= h.bytes;
  }
}

/** An answer from the channel: inflating starts at once (beside the render queue); the
 * function returned, run in index.ts's render queue, caches the images and shows them. */
export function answer(a: Answer): () => Promise<void> {
  const arrived = abs();
  for (const e of a.index ?? []) ahead.delete(e.key);
  const entries = (a.index ?? []).filter(
    (e) => !fullId(e.key) && (e.codec === CODEC || e.codec === RAW16),
  );
  const inflating = entries.map((e) => {
    const t0 = abs();
    let values: Promise<Got>;
    if (e.url) values = fetchImage(e);
    else {
      const bytes = a.data.subarray(e.offset, e.offset + e.length);
      values = e.codec === RAW16 ? raw16(bytes, e.rows, e.cols).then((v) => ranged(v)) : inflate(bytes, e.rows, e.cols);
    }
    return values.then(
      (got): Done => ({ ...got, ms: abs() - t0, t0 }),
      (err: Error) => err,
    );
  });
  return async () => {
    // In the order they come (fetched in parallel), each shown as soon as it is there.
    const left = new Map(entries.map((_, k) => [k, inflating[k].then(() => k)]));
    const refetch: string[] = [];
    while (left.size) {
      const k = await Promise.race(left.values());
      left.delete(k);
      await receive(a.case, entries[k], await inflating[k], arrived, refetch);
      await upgradeAll();
    }
    if (!refetch.length || !ctx) return;
    if (lastAsk?.case === a.case && ctx.caseKey() === a.case && engaged === a.case) {
      // A media URL that could not be fetched (gone with a rerun of the page, a proxy):
      // the bytes come in the answer itself, as before media URLs.
      const now = performance.now();
      for (const key of refetch) asked.set(key, now);
      post({ ...lastAsk, keys: refetch, inline: true, prefetch: undefined });
    } else {
      for (const key of refetch) asked.delete(key); // a prefetch: asked again at the zoom
      if (timing.case === a.case) timing.aheadFailed = `${refetch.length} at +${abs()}: ${failed}`;
      ctx.publish();
    }
  };
}

interface Done extends Got {
  ms: number; // from the answer's arrival to the values (fetch and inflate)
  t0: number;
}

async function receive(
  c: string,
  e: Entry,
  got: Done | Error,
  arrived: number,
  refetch: string[],
): Promise<void> {
  if (fullId(e.key)) return;
  try {
    if (got instanceof Error) throw got;
    const { values } = got;
    const t1 = abs();
    const id = `${PREFIX}${e.key}:${e.rows}x${e.cols}`;
    if (!cs.cache.getImage(id)) {
      const image = cacheLocalImage(id, {
        values,
        rows: e.rows,
        cols: e.cols,
        spacing: [e.spacing[1], e.spacing[0]],
        origin: originOf(e), // on the preview's pixels: no shift when swapped in
        min: got.min,
        max: got.max,
      });
      giveWindow(image); // see window.ts
    }
    const fetchMs = got.fetchMs === undefined ? undefined : Math.round(got.fetchMs);
    if (timing.case !== c) timing = { case: c, images: [] };
    (timing.images as unknown[]).push({
      key: e.key,
      bytes: e.length,
      server: (e as unknown as Record<string, unknown>).timing ?? null,
      url: !!e.url,
      // when its bytes were here: the answer's arrival, or the end of its fetch
      arrived: fetchMs === undefined ? arrived : got.t0 + fetchMs,
      answered: arrived,
      fetchMs: fetchMs ?? null,
      got: t1,
      inflateMs: fetchMs === undefined ? got.ms : got.ms - fetchMs,
      cacheMs: abs() - t1,
    });
    held.set(e.key, { id, bytes: values.byteLength, used: performance.now(), cols: e.cols });
    colsOf.set(id, e.cols);
    asked.delete(e.key);
  } catch (err) {
    failed = `${e.key}: ${(err as Error).message}`;
    if (e.url) refetch.push(e.key);
  }
}

/** Show the full image in every panel that has one (camera, window, invert kept). */
export async function upgradeAll(): Promise<void> {
  if (!ctx) return;
  if (engaged !== ctx.caseKey()) {
    evict(); // kept unshown until a zoom
    ctx.publish();
    return;
  }
  const panels = ctx.panels();
  let changed = false;
  const draws: Promise<void>[] = [];
  await Promise.all(
    panels.map(async (p, i) => {
      const vp = ctx?.viewport(i);
      const id = fullId(p.key);
      const h = held.get(p.key);
      if (!vp || !id || !h) return;
      h.used = performance.now();
      if (vp.getCurrentImageId() === id) return;
      // The CPU path's camera carries `scale` (screen pixels per IMAGE pixel): kept, the full
      // image would show at 4x the preview's zoom. Its parallelScale (world units) is what
      // stays: without `scale`, the view stays (renderer.ts).
      const { scale: _perPixel, ...camera } = vp.getCamera();
      const { voiRange, invert } = vp.getProperties();
      const t0 = abs();
      await vp.setStack([id]);
      ((timing.swaps ??= []) as unknown[]).push({ key: p.key, at: t0, setStackMs: abs() - t0 });
      vp.setCamera(camera);
      vp.setProperties({ voiRange, invert });
      draws.push(drawn(vp)); // the texture is uploaded when it is drawn
      vp.render();
      changed = true;
    }),
  );
  if (changed && askedAt >= 0) {
    // The clock stops when the images are drawn (texture upload included), not before; it
    // does not hold up the render queue meanwhile.
    const since = askedAt;
    const all = panels.every((p, i) => !wanted(p) || factor(ctx?.viewport(i) ?? null, p) !== 1);
    if (all) askedAt = -1; // done when every panel that wants its full image shows it
    void Promise.all(draws).then(() => {
      const ms = Number((performance.now() - since).toFixed(1));
      if (firstMs < 0) {
        firstMs = ms;
        timing.first = abs();
      }
      if (all) {
        lastMs = ms;
        timing.shown = abs();
      }
      ctx?.publish();
    });
  }
  evict();
  ctx.publish();
}

/** The state for tests and benches, on the root element's data-* attributes. */
export function publish(d: DOMStringMap): void {
  if (!ctx) return;
  const panels = ctx.panels();
  const on = engaged === ctx.caseKey();
  d.fullres = JSON.stringify(
    panels.map((p, i) => {
      if (!wanted(p)) return "full";
      const vp = ctx?.viewport(i);
      if (vp && factor(vp, p) !== 1) return "full";
      return on && (asked.has(p.key) || held.has(p.key)) ? "asked" : "preview";
    }),
  );
  // Full images of the case on screen held unshown (prefetched, before a zoom).
  d.fullresHeld = String(panels.filter((p) => wanted(p) && held.has(p.key)).length);
  let total = 0;
  for (const h of held.values()) total += h.bytes;
  d.fullresBytes = String(total);
  d.fullresBudget = String(BUDGET_BYTES);
  d.fullresMs = String(lastMs);
  d.fullresFirstMs = String(firstMs);
  d.fullresRequests = String(requests);
  d.fullresSupported = String(supported);
  const since = typeof timing.asked === "number" ? timing.asked : Infinity;
  d.fullresTiming = JSON.stringify({ ...timing, renders: renders.filter((r) => r.at >= since) });
  if (failed) d.fullresError = failed;
}
