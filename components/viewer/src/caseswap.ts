// A new case in the viewer that is already built: its images swapped into the same
// rendering engine and viewports (a hook at the top of index.ts's showCase).
//
// Building a case from scratch (index.ts's showCase) destroys the rendering engine and
// makes a new one: new WebGL contexts, viewports, actors and textures, a new tool group
// binding and new synchronisers; with software WebGL that was most of a case switch's
// draw once the pixels were here. When the new case has the same shape as the one on
// screen (as many panels, no temporal panels, no marking: Browse's case switch, Predict's
// next result with its layers), the engine, viewports, DOM and synchronisers stay and each
// viewport only gets its new image (Cornerstone updates the image data in place when the
// size matches), window, invert and a fitted camera. Any other change rebuilds as before.
import * as cs from "@cornerstonejs/core";
import * as tools from "@cornerstonejs/tools";

interface PanelLike {
  key: string;
  label: string;
  window: [number, number];
  invert: boolean;
}
interface ArgsLike {
  panels: PanelLike[];
  height: number;
  editable: string | null;
  temporal?: { views: unknown[]; off?: boolean } | null;
  overlays?: unknown;
}
export interface Host {
  root: HTMLDivElement;
  engine: () => cs.RenderingEngine | null;
  viewport: (i: number) => cs.Types.IStackViewport | null;
  ensureImage: (p: PanelLike) => string;
  synchronizers: () => tools.Synchronizer[];
  /** After the images are set: the temporal bar, tools, synchronisers, resize, height. */
  finish: (a: ArgsLike) => Promise<void>;
}

let built = ""; // the shape of the case on screen ("" : nothing reusable)
let swaps = 0;
let lastMs = -1;

/** What must match for a swap: panel count, height, and whether the panels carry layers
 * (Predict's: each panel's layers are read from the render's panels at every draw and
 * click, so a new case's come with its images); no temporal panels or marks. */
function shape(a: ArgsLike): string {
  const temporalViews = a.temporal && !a.temporal.off ? a.temporal.views.length : 0;
  if (a.editable || temporalViews) return "";
  return `panels:${a.panels.length}:h${a.height}${a.overlays ? ":layers" : ""}`;
}

/** Remember what showCase built (called once it is built). */
export function builtFor(a: ArgsLike): void {
  built = shape(a);
}

/** Show `a` by swapping images into the viewer on screen; false when it cannot (the
 * caller builds the case from scratch). */
export async function swap(a: ArgsLike, h: Host): Promise<boolean> {
  const s = shape(a);
  const engine = h.engine();
  const panelEls = h.root.querySelectorAll<HTMLDivElement>(".grid > .panel");
  if (!s || s !== built || !engine || panelEls.length !== a.panels.length) return false;
  const started = performance.now();
  built = ""; // until it is done: a failure below rebuilds next time
  tools.annotation.state.removeAllAnnotations(); // rulers, probes of the last case
  const syncs = h.synchronizers();
  syncs.forEach((x) => x.setEnabled(false)); // each panel its own image, window and camera
  try {
    await Promise.all(
      a.panels.map(async (p, i) => {
        const el = panelEls[i];
        el.dataset.key = p.key;
        const label = el.querySelector(".label");
        if (label) label.textContent = p.label;
        el.setAttribute("aria-label", p.label);
        const vp = h.viewport(i);
        if (!vp) throw new Error(`no viewport for panel ${i}`);
        await vp.setStack([h.ensureImage(p)]);
        const [c, w] = p.window;
        vp.setProperties({ voiRange: { lower: c - w / 2, upper: c + w / 2 }, invert: p.invert });
        vp.resetCamera();
      }),
    );
  } finally {
    syncs.forEach((x) => x.setEnabled(true));
  }
  h.root.querySelector(".tbar")?.remove(); // temporal.build() makes the bar anew
  await h.finish(a);
  built = s;
  swaps += 1;
  lastMs = Number((performance.now() - started).toFixed(1));
  return true;
}

/** Destroy a synchroniser and every listener it put on its viewports' elements.
 * Cornerstone's own destroy() removes its sources while iterating over the same array, so
 * it skips every other one: those elements keep the old synchroniser's listener. With a
 * rebuilt case the elements went too; with swapped images they stay, so each case switch
 * left listeners behind, and their VOI events answered each other in a storm that grew
 * with every switch (seconds per switch after ten, minutes after a dozen). */
export function destroySynchronizer(s: tools.Synchronizer): void {
  for (const v of [...s.getSourceViewports()]) s.remove(v);
  for (const v of [...s.getTargetViewports()]) s.remove(v);
  tools.SynchronizerManager.destroySynchronizer(s.id);
}

/** Forget the case on screen (its engine is gone). */
export function reset(): void {
  built = "";
}

/** The state for tests and benches, on the root element's data-* attributes. */
export function publish(d: DOMStringMap): void {
  d.swaps = String(swaps);
  d.swapMs = String(lastMs);
}
