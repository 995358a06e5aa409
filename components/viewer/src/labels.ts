// Where Predict's region numbers go. Each box's number went at its top-left corner, above
// the box: where two regions overlap, that spot can lie inside the other box, among its
// detections' diamonds and the explanation's rings (the demo's suspicious-1, recent CC:
// region 3's number sat inside region 4). Greedy, in rank order (the first region keeps
// the usual spot): each label takes the first of a few spots around its own box that is on
// the canvas, clear of the labels already placed and of every other box; failing that,
// the spot that overlaps least.

export type Rect = [number, number, number, number]; // x, y, width, height (canvas px)

const GAP = 3; // px between a box and its label

/** The size of every text drawn on the images (marks' letters, region and detection
 * numbers, hot spots' peaks), in CSS px: 11-13 px read on a reading screen but not from a
 * projector's back row (1280x720 at 125 %); the frame's own text is 14 px too. */
export const LABEL_PX = 14;
/** Bold over a dark outline (:func:`tag`): legible on any tissue. */
export const LABEL_FONT = `bold ${LABEL_PX}px sans-serif`;
let smallest = Infinity; // the smallest font size of a label drawn so far (CSS px)

/** The smallest font size (CSS px) of the labels drawn on the images so far, read from the
 * contexts that drew them (0 before any): published for the browser tests' legibility
 * check. */
export function drawnLabelPx(): number {
  return Number.isFinite(smallest) ? smallest : 0;
}

/** Set ``ctx``'s font to the labels' and note its size as drawn. */
export function labelFont(ctx: CanvasRenderingContext2D): void {
  ctx.font = LABEL_FONT;
  const px = parseFloat(/([\d.]+)px/.exec(ctx.font)?.[1] ?? "");
  if (px < smallest) smallest = px;
}

function overlap(a: Rect, b: Rect): number {
  const w = Math.min(a[0] + a[2], b[0] + b[2]) - Math.max(a[0], b[0]);
  const h = Math.min(a[1] + a[3], b[1] + b[3]) - Math.max(a[1], b[1]);
  return w > 0 && h > 0 ? w * h : 0;
}

function outside(r: Rect, width: number, height: number): number {
  const inside = overlap(r, [0, 0, width, height]);
  return r[2] * r[3] - inside;
}

/** The spots around box ``b`` for a label of ``w`` x ``h``, in order of preference: above
 * at the left (the usual one), above at the right, below at the left and right, then
 * beside the box's top corners. */
export function candidates(b: Rect, w: number, h: number): Rect[] {
  const [x, y, bw, bh] = b;
  const above = y - GAP - h;
  const below = y + bh + GAP;
  return [
    [x, above, w, h],
    [x + bw - w, above, w, h],
    [x, below, w, h],
    [x + bw - w, below, w, h],
    [x - GAP - w, y, w, h],
    [x + bw + GAP, y, w, h],
  ];
}

/** A label rectangle per box (same order): ``sizes`` are the labels' widths and heights,
 * the canvas ``width`` x ``height``, ``avoid`` labels already drawn there (hot spots' peaks).
 * Cost of a spot: off the canvas (most), over a label already placed, over another box; ties
 * go to the earlier spot. */
export function placeLabels(
  boxes: Rect[],
  sizes: [number, number][],
  width: number,
  height: number,
  avoid: Rect[] = [],
): Rect[] {
  const placed: Rect[] = [...avoid];
  boxes.forEach((b, i) => {
    const [w, h] = sizes[i];
    placed.push(pick(candidates(b, w, h), placed, boxes.filter((_, k) => k !== i), width, height));
  });
  return placed.slice(avoid.length);
}

/** The first of ``cands`` (label rectangles) off which the least lies: off the canvas
 * ``width`` x ``height`` (most), over the labels ``placed``, over the ``boxes``. */
export function pick(cands: Rect[], placed: Rect[], boxes: Rect[], width: number, height: number): Rect {
  let best = cands[0];
  let bestCost = Infinity;
  for (const c of cands) {
    let cost = 1000 * outside(c, width, height);
    for (const p of placed) cost += 100 * overlap(c, p);
    for (const o of boxes) cost += overlap(c, o);
    if (cost < bestCost) {
      best = c;
      bestCost = cost;
      if (cost === 0) break;
    }
  }
  return best;
}

// A sign or letter beside a mark (a status, a label), so that it does not rest on colour alone.
/** ``text`` at (x, y) (its left baseline) in ``colour``, outlined dark to read on any pixel. */
export function tag(ctx: CanvasRenderingContext2D, x: number, y: number, text: string, colour: string): void {
  ctx.save();
  labelFont(ctx);
  ctx.lineWidth = 3;
  ctx.strokeStyle = "rgba(0,0,0,0.85)";
  ctx.strokeText(text, x, y);
  ctx.fillStyle = colour;
  ctx.fillText(text, x, y);
  ctx.restore();
}

/** :func:`tag` beside a mark: starting at ``right`` (x), or ending at ``left`` where it would
 * reach past the canvas's right edge (a mark at the skin line, a panel's edge). */
export function tagBeside(
  ctx: CanvasRenderingContext2D,
  left: number,
  right: number,
  y: number,
  text: string,
  colour: string,
): void {
  ctx.save();
  labelFont(ctx);
  const w = ctx.measureText(text).width;
  ctx.restore();
  const width = ctx.canvas.clientWidth || ctx.canvas.width;
  tag(ctx, right + w > width ? left - w : right, y, text, colour);
}
