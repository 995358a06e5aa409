// The per-frame cost of the viewer's own interactions (W/L drag, wheel zoom, pan): hooks in
// index.ts. None of them talks to Python: they change a viewport's camera or VOI, which
// Cornerstone renders once per animation frame (all panels of the frame together), and the
// synchronisers carry the change to the partners. What this module keeps off that frame:
//
// - Cornerstone's WindowLevelTool scans every pixel of the image (its min and max) on each
//   drag move to pick the drag's speed: 1M values per move for a preview, 13.6M (100+ ms
//   here) once the full-resolution image is shown. An image's range never changes, and a
//   local image carries it (min/maxPixelValue, computed once when it is cached): read there.
// - The state mirrored on data-* (index.ts publish()) was rebuilt after every panel's
//   IMAGE_RENDERED: four times a frame with four panels. It is now rebuilt once, after the
//   frame's events (a microtask: the same task, before the page paints).
// - Each overlay redraw read its panel's clientWidth/clientHeight right after the previous
//   panel's W/L label changed: a forced layout per panel. The sizes are kept from a
//   ResizeObserver instead.
// - On the CPU path a W/L move is drawn as a draft at each panel's own resolution while the
//   drag lasts, and exactly once it ends (visible.ts, "the draft of a W/L drag").
// - Each panel's overlay canvas (marks, outlines, maps, labels) was cleared and redrawn after
//   every render, blank or not: a canvas touched in a frame is copied into a new compositor
//   resource at the commit and blended over its panel by the (software) display compositor,
//   four times a frame for nothing on a case without marks. A blank overlay is now left
//   untouched and hidden (`beginOverlay`/`endOverlay`).
import * as cs from "@cornerstonejs/core";
import * as tools from "@cornerstonejs/tools";
import * as vis from "./visible";

/** The dynamic range of the viewport's image without scanning its pixels. */
export function imageRange(viewport: cs.Types.IViewport): number | null {
  const id = (viewport as cs.Types.IStackViewport).getCurrentImageId?.();
  const image = id ? cs.cache.getImage(id) : undefined;
  const lo = image?.minPixelValue;
  const hi = image?.maxPixelValue;
  return typeof lo === "number" && typeof hi === "number" && Number.isFinite(hi - lo) ? hi - lo : null;
}

/** Cornerstone's W/L tool (same name, same speed), reading the image's range from the image
 * instead of scanning its pixels on every drag move; on the CPU path its moves are drawn as
 * drafts until the drag ends. */
export class WindowLevelTool extends tools.WindowLevelTool {
  _getImageDynamicRangeFromViewport(viewport: cs.Types.IViewport): number {
    return imageRange(viewport) ?? super._getImageDynamicRangeFromViewport(viewport);
  }

  mouseDragCallback(evt: Parameters<tools.WindowLevelTool["mouseDragCallback"]>[0]): void {
    if (cs.getShouldUseCPURendering()) draftUntilEnd();
    super.mouseDragCallback(evt);
  }
}

/** How long a held drag may rest before its panels are drawn exactly (ms). */
const DRAFT_REST_MS = 400;
let rest: ReturnType<typeof setTimeout> | null = null;
let ending = false;

/** Draw W/L moves as drafts (visible.ts) until the button is released, the page loses
 * focus or the drag rests; then every panel once exactly, in the next frame. */
function draftUntilEnd(): void {
  vis.startDraft();
  if (!ending) {
    ending = true;
    window.addEventListener("mouseup", endDraft, true);
    window.addEventListener("blur", endDraft);
  }
  if (rest !== null) clearTimeout(rest);
  rest = setTimeout(endDraft, DRAFT_REST_MS);
}
function endDraft(): void {
  if (rest !== null) clearTimeout(rest);
  rest = null;
  ending = false;
  window.removeEventListener("mouseup", endDraft, true);
  window.removeEventListener("blur", endDraft);
  if (vis.endDraft()) for (const engine of cs.getRenderingEngines() ?? []) engine.render();
}

let queued = false;
/** Run `publish` once after the events of this task (every IMAGE_RENDERED of a frame). */
export function publishSoon(publish: () => void): void {
  if (queued) return;
  queued = true;
  queueMicrotask(() => {
    queued = false;
    publish();
  });
}

const sizes = new WeakMap<Element, [number, number]>();
let observer: ResizeObserver | null = null;

/** Keep `el`'s size (CSS pixels) up to date; `changed` runs when it changes. */
export function watchSize(el: HTMLElement, changed: () => void): void {
  if (typeof ResizeObserver === "undefined") return;
  observer ??= new ResizeObserver((entries) => {
    for (const e of entries) {
      const t = e.target as HTMLElement;
      const size: [number, number] = [t.clientWidth, t.clientHeight];
      const was = sizes.get(t);
      sizes.set(t, size);
      if (was && (was[0] !== size[0] || was[1] !== size[1])) watchers.get(t)?.();
    }
  });
  watchers.set(el, changed);
  observer.observe(el);
}
const watchers = new WeakMap<Element, () => void>();

/** `el`'s size as last observed (no layout), or measured now if not observed yet. */
export function sizeOf(el: HTMLElement): [number, number] {
  return sizes.get(el) ?? [el.clientWidth, el.clientHeight];
}

// ---- input latency, measured in the page ---------------------------------------------------
// `data-input-ms`: milliseconds from the time stamp of the reader's last wheel step or drag
// move (the browser's own stamp of the input, `Event.timeStamp`) to the end of the frame's
// drawing that followed it (the publish after its IMAGE_RENDERED events; the compositor's
// paint comes after, in the same frame). A bench driving the page from outside also counts
// its own way in (the command to the browser) and its polling: this is what the reader's
// hand feels, on the page's clock.
let inputStamp = -1;

/** Note the time stamps of view-changing input under `el` (wheel, a move with a button held). */
export function watchInput(el: HTMLElement): void {
  const opts = { capture: true, passive: true };
  el.addEventListener("wheel", (e) => (inputStamp = e.timeStamp), opts);
  el.addEventListener("mousemove", (e) => {
    if (e.buttons) inputStamp = e.timeStamp;
  }, opts);
}

/** Milliseconds since the last noted input ("" before any). */
export function inputMs(): string {
  return inputStamp < 0 ? "" : (performance.now() - inputStamp).toFixed(1);
}

// ---- overlay canvases touched only when they carry something ---------------------------------
// The 2D context's calls that put ink on a canvas (a path's fill or stroke, a rectangle, text,
// an image): wrapped on each overlay's own context to note that a drawing drew something.
const INKING = [
  "fill",
  "stroke",
  "fillRect",
  "strokeRect",
  "fillText",
  "strokeText",
  "drawImage",
  "putImageData",
] as const;
interface Ink {
  ctx: CanvasRenderingContext2D;
  drew: boolean; // something drawn since beginOverlay
  blank: boolean; // the canvas holds nothing (cleared, resized, or nothing drawn)
}
const inks = new WeakMap<HTMLCanvasElement, Ink>();

function inkOf(canvas: HTMLCanvasElement): Ink {
  let ink = inks.get(canvas);
  if (ink) return ink;
  const ctx = canvas.getContext("2d") as CanvasRenderingContext2D;
  const made: Ink = { ctx, drew: false, blank: false }; // a new canvas: cleared once anyway
  const own = ctx as unknown as Record<string, unknown>;
  for (const name of INKING) {
    const plain = ctx[name] as (...a: unknown[]) => unknown;
    own[name] = function (this: CanvasRenderingContext2D, ...a: unknown[]) {
      made.drew = true;
      return plain.apply(this, a);
    };
  }
  inks.set(canvas, made);
  return made;
}

/** The overlay `canvas`' context for a new drawing at `w` x `h` CSS px: cleared if it holds
 * one (a blank canvas is not touched, so the compositor keeps its resource). Its store has
 * `ratio` device pixels per CSS pixel (the screen's: text and lines crisp at a browser zoom
 * of 125 %, not a 1x bitmap stretched) and the context draws in CSS px. Call `endOverlay`
 * after drawing. */
export function beginOverlay(canvas: HTMLCanvasElement, w: number, h: number, ratio = 1): CanvasRenderingContext2D {
  const ink = inkOf(canvas);
  const [dw, dh] = [Math.round(w * ratio), Math.round(h * ratio)];
  if (canvas.width !== dw || canvas.height !== dh) {
    canvas.width = dw; // resizing clears it
    canvas.height = dh;
    canvas.style.width = `${w}px`;
    canvas.style.height = `${h}px`;
    ink.blank = true;
  }
  ink.ctx.setTransform(dw / w || 1, 0, 0, dh / h || 1, 0, 0);
  if (!ink.blank) ink.ctx.clearRect(0, 0, w, h);
  ink.drew = false;
  return ink.ctx;
}

/** After a drawing begun by `beginOverlay`: a canvas left blank is hidden (the compositor has
 * no layer to blend over the panel), one with a drawing shown. */
export function endOverlay(canvas: HTMLCanvasElement): void {
  const ink = inks.get(canvas);
  if (!ink) return;
  ink.blank = !ink.drew;
  const visibility = ink.blank ? "hidden" : "";
  if (canvas.style.visibility !== visibility) canvas.style.visibility = visibility;
}
