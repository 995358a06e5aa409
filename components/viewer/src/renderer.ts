// Which of Cornerstone's two drawing paths the viewer uses (a hook in index.ts, before
// cs.init), and zoom/pan synchronisation that works on both.
//
// Cornerstone draws a stack viewport with WebGL (vtk.js into one offscreen canvas, then a
// copy into each panel's canvas) or on the CPU (a lookup table applied to the image into
// the panel's 2-D canvas). With a real GPU, WebGL wins. With a SOFTWARE WebGL renderer
// (SwiftShader, llvmpipe: hospital VMs, remote desktops, headless Chromium), each panel's
// copy waits for the software rasteriser and reads the pixels back: four panels a frame
// cost more than the CPU path's plain loop (docs/measurements.md, "W/L and wheel on the
// CPU path"). So: the CPU path when WebGL is missing (Cornerstone's own rule) or when its
// renderer is software (WEBGL_debug_renderer_info), WebGL otherwise. An override, for
// measuring both paths on one machine: `?renderer=cpu|webgl` on the page or
// localStorage["mcalc-renderer"].
import * as cs from "@cornerstonejs/core";
import * as tools from "@cornerstonejs/tools";

export type Path = "cpu" | "webgl";
export interface Choice {
  path: Path;
  renderer: string; // what WebGL says it is ("" when unknown)
  why: string; // "software-webgl" | "no-webgl" | "gpu" | "override"
}

function override(): Path | null {
  const pick = (v: string | null | undefined): Path | null => (v === "cpu" || v === "webgl" ? v : null);
  try {
    const fromUrl = (w: Window): Path | null => pick(new URLSearchParams(w.location.search).get("renderer"));
    let found = fromUrl(window);
    try {
      found ??= fromUrl(window.parent); // the app's page (same origin)
    } catch {
      /* another origin: no override from there */
    }
    return found ?? pick(window.localStorage?.getItem("mcalc-renderer"));
  } catch {
    return null;
  }
}

/** The CPU path's canvases have one pixel per CSS pixel, but Cornerstone (5.14) converts
 * points between them and the image through `devicePixelRatio`: at a browser zoom of 150 %
 * (or on a HiDPI screen) every mark, outline and region was drawn at 1/1.5 of its place
 * from the panel's top left (the calcifications' circles beside the breast; a click marked
 * elsewhere) and a key's or wheel's zoom went the wrong way (h/a11y, 6 December 2026). This
 * frame tells Cornerstone the ratio its canvases really have: 1. The WebGL path sizes its
 * canvases in device pixels and keeps the true ratio. */
function oneDevicePixel(): void {
  const own = Object.getOwnPropertyDescriptor(window, "devicePixelRatio");
  const get = (own ?? Object.getOwnPropertyDescriptor(Object.getPrototypeOf(window), "devicePixelRatio"))?.get;
  const kept = window.devicePixelRatio;
  screen = get ? () => Number(get.call(window)) || 1 : () => kept || 1;
  Object.defineProperty(window, "devicePixelRatio", { configurable: true, get: () => 1 });
}
let screen = (): number => window.devicePixelRatio || 1;

/** The screen's device pixels per CSS pixel, on both paths (the CPU path tells Cornerstone
 * 1): the overlays' canvases are drawn at it, so that their text is crisp at a browser zoom
 * of 125 % or on a HiDPI screen. */
export function screenRatio(): number {
  return screen();
}

/** Decide the path and tell Cornerstone (after cs.init, before any viewport); the choice
 * goes on `d` (data-renderer, data-renderer-gl, data-renderer-why) for tests and benches. */
export function choose(d?: DOMStringMap): Choice {
  const caps = cs.getRenderingCapabilities();
  const renderer = caps.renderer ?? "";
  const forced = override();
  let choice: Choice;
  if (forced) choice = { path: forced, renderer, why: "override" };
  else if (!caps.webgl) choice = { path: "cpu", renderer, why: "no-webgl" };
  else if (caps.softwareRasterizer) choice = { path: "cpu", renderer, why: "software-webgl" };
  else choice = { path: "webgl", renderer, why: "gpu" };
  if (choice.path === "webgl" && !caps.webgl) choice = { path: "cpu", renderer, why: "no-webgl" };
  cs.setUseCPURendering(choice.path === "cpu", false);
  if (choice.path === "cpu") oneDevicePixel();
  if (d) {
    d.renderer = choice.path;
    d.rendererGl = renderer;
    d.rendererWhy = choice.why;
  }
  return choice;
}

/** The image shown and the size of its fit on the panel (canvas pixels per image pixel).
 * The panel's canvas, not its element: Cornerstone's CPU fit (getImageFitScale) and scale
 * are in canvas pixels, and reading a canvas' width forces no layout, where the element's
 * clientWidth did, once per panel per frame (the overlays read the zoom right after the
 * previous panel's W/L label changed). */
function shown(vp: cs.Types.IStackViewport): { w: number; h: number; sx: number; sy: number; fit: number } | null {
  const id = vp.getCurrentImageId();
  const image = id ? cs.cache.getImage(id) : undefined;
  const canvas = vp.canvas;
  if (!image || !canvas?.width || !canvas.height) return null;
  const { width: w, height: h } = image;
  const sx = image.columnPixelSpacing || 1;
  const sy = image.rowPixelSpacing || 1;
  return { w, h, sx, sy, fit: Math.min(canvas.width / w, canvas.height / h) };
}

/** The viewport's zoom relative to its image's fit, on both paths (on the CPU path
 * Cornerstone's getZoom is the absolute scale, screen pixels per image pixel). */
export function zoom(vp: cs.Types.IStackViewport): number {
  if (!cs.getShouldUseCPURendering()) return vp.getZoom();
  const a = shown(vp);
  const scale = vp.getZoom();
  return a && a.fit > 0 ? scale / a.fit : scale;
}

/** The viewport's pan in screen pixels on both paths (on the CPU path Cornerstone's getPan
 * is the translation in image pixels, which changes when the full image replaces the
 * preview). */
export function pan(vp: cs.Types.IStackViewport): [number, number] {
  const p = vp.getPan();
  if (!cs.getShouldUseCPURendering()) return [p[0], p[1]];
  const scale = vp.getZoom();
  return [p[0] * scale, p[1] * scale];
}

/** Zoom/pan synchronisation. On WebGL: Cornerstone's own. On the CPU path Cornerstone
 * 5.14's callback misplaces partners (its CPU getPan is the image translation, its setPan
 * takes a world focal point), so there the partners get the source's zoom relative to each
 * panel's fit and the source's centre as a fraction of each image: for images of one size,
 * exactly the source's view, as on WebGL. */
export function createZoomPanSynchronizer(id: string): tools.Synchronizer {
  if (!cs.getShouldUseCPURendering()) return tools.synchronizers.createZoomPanSynchronizer(id);
  return tools.SynchronizerManager.createSynchronizer(id, cs.Enums.Events.CAMERA_MODIFIED, (_sync, source, target) => {
    const engine = cs.getRenderingEngine(target.renderingEngineId);
    const s = engine?.getViewport(source.viewportId) as cs.Types.IStackViewport | undefined;
    const t = engine?.getViewport(target.viewportId) as cs.Types.IStackViewport | undefined;
    const a = s && shown(s);
    const b = t && shown(t);
    if (!s || !t || !a || !b) return;
    const cam = s.getCamera();
    const f = cam.focalPoint ?? [0, 0, 0];
    const fx = f[0] / (a.w * a.sx);
    const fy = f[1] / (a.h * a.sy);
    t.setCamera({
      scale: ((cam.scale ?? a.fit) / a.fit) * b.fit,
      focalPoint: [fx * b.w * b.sx, fy * b.h * b.sy, f[2]],
    } as cs.Types.ICamera);
    t.render();
  });
}

/** On the CPU path, the panel `el`'s canvas made as Cornerstone makes it (its
 * getOrCreateCanvas, which finds and keeps it at setViewports) but with an opaque 2-D
 * context (`alpha: false`), before anything else asks for one: the first call fixes it.
 *
 * Every CPU draw of a panel covers its whole canvas with opaque pixels (visible.ts: black,
 * then the windowed image's white at the grey level's alpha over it; a W/L draft's opaque
 * greys), over the panel's black. A canvas not declared opaque is blended over whatever lies
 * beneath it by the compositor, and with a software compositor (Chromium without a GPU)
 * that is each frame's largest draw: the damaged rectangle of the four panels redrawn layer
 * by layer. Declared opaque, it is copied and what it covers is skipped, for the same pixels
 * on screen (docs/measurements.md, "the panels' canvases opaque"). Off the CPU path (WebGL)
 * Cornerstone's own canvas as before. */
export function opaqueCanvas(el: HTMLDivElement): void {
  if (!cs.getShouldUseCPURendering() || el.querySelector("canvas.cornerstone-canvas")) return;
  cs.getOrCreateCanvas(el).getContext("2d", { alpha: false });
}

