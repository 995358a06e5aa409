// A starting window for Cornerstone's local images (hooks in index.ts and fullres.ts).
//
// `imageLoader.createAndCacheLocalImage` gives its image windowCenter = windowWidth = 0.
// A stack viewport on WebGL builds its colour transfer function once, on its first image,
// from that window: DICOM's linear formula turns width 0 into the range [0, -1], a
// REVERSED ramp (black at 0, white at -1). Every later window (setProperties' voiRange)
// only rescales that function's nodes (vtk's setMappingRange), so the ramp stays reversed
// and with invert off the viewer shows negatives; `invert` flips it "right". The CPU path
// computes its lookup table from the window each time, so it never showed the fault.
// This is Cornerstone's logic, not a property of the WebGL implementation: a real GPU
// builds the same reversed function. Giving each image a real window before it is shown
// makes the first transfer function run the right way.
// Every local image passes here before it is shown, so this is also where the CPU path's
// drawing of only the part a panel shows is attached (visible.ts).
import type * as cs from "@cornerstonejs/core";
import { drawVisible } from "./visible";

/** Give `image` the window (center, width); without one, its own value range. */
export function giveWindow(image: cs.Types.IImage, window?: readonly number[]): void {
  const lo = image.minPixelValue ?? 0;
  const hi = image.maxPixelValue ?? lo + 1;
  const [center, width] = window && window[1] > 0 ? window : [(lo + hi) / 2, Math.max(hi - lo, 1)];
  image.windowCenter = center;
  image.windowWidth = width;
  drawVisible(image);
}
