// The regions of a region annotation (a CBIS-DDSM ROI mask, a VinDr box, a MIAS circle: an
// area that holds calcifications, not the calcifications), outlined in dashed orange as the
// simple viewer draws them (mcalc/present/viewer_figures.py). The page sends each outline in
// the panel's pixel grid, simplified to a few dozen vertices (mcalc.present.reading
// panel_regions); the dataset-marks toggle sends none, the Overlays button (O) hides them.
export type Point = [number, number]; // (row, col) in a panel's pixel grid

export const REGION_COLOUR = "#ff8c00";

/** Outline each region of ``outlines`` on ``ctx`` through ``project`` (panel grid ->
 * canvas); returns how many were drawn. */
export function drawRegions(
  ctx: CanvasRenderingContext2D,
  outlines: Point[][] | undefined,
  project: (row: number, col: number) => [number, number] | null,
): number {
  let drawn = 0;
  if (!outlines?.length) return drawn;
  ctx.save();
  ctx.strokeStyle = REGION_COLOUR;
  ctx.lineWidth = 2;
  ctx.setLineDash([7, 5]);
  for (const outline of outlines) {
    const qs = outline.map(([r, c]) => project(r, c)).filter((q): q is [number, number] => !!q);
    if (qs.length < 2) continue;
    ctx.beginPath();
    qs.forEach(([x, y], k) => (k === 0 ? ctx.moveTo(x, y) : ctx.lineTo(x, y)));
    ctx.closePath();
    ctx.stroke();
    drawn += 1;
  }
  ctx.restore();
  return drawn;
}
