// Where Predict's region numbers go. Each box's number went at its top-left corner, above
// the box: where two regions overlap, that spot can lie inside the other box, among its
// detections' diamonds and the explanation's rings (the demo's suspicious-1, recent CC:
// region 3's number sat inside region 4). Greedy, in rank order (the first region keeps
// the usual spot): each label takes the first of a few spots around its own box that is on
// the canvas, clear of the labels already placed and of every other box; failing that,
// the spot that overlaps least.

export type Rect = [number, number, number, number]; // x, y, width, height (canvas px)

const GAP = 3; // px between a box and its label

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
 * the canvas ``width`` x ``height``. Cost of a spot: off the canvas (most), over a label
 * already placed, over another box; ties go to the earlier spot. */
export function placeLabels(boxes: Rect[], sizes: [number, number][], width: number, height: number): Rect[] {
  const placed: Rect[] = [];
  boxes.forEach((b, i) => {
    const [w, h] = sizes[i];
    let best: Rect | null = null;
    let bestCost = Infinity;
    for (const c of candidates(b, w, h)) {
      let cost = 1000 * outside(c, width, height);
      for (const p of placed) cost += 100 * overlap(c, p);
      boxes.forEach((o, k) => {
        if (k !== i) cost += overlap(c, o);
      });
      if (cost < bestCost) {
        best = c;
        bestCost = cost;
        if (cost === 0) break;
      }
    }
    placed.push(best ?? candidates(b, w, h)[0]);
  });
  return placed;
}

// A sign or letter beside a mark (a status, a label), so that it does not rest on colour alone.
/** ``text`` at (x, y) (its left baseline) in ``colour``, outlined dark to read on any pixel. */
export function tag(ctx: CanvasRenderingContext2D, x: number, y: number, text: string, colour: string): void {
  ctx.save();
  ctx.font = "bold 13px sans-serif";
  ctx.lineWidth = 3;
  ctx.strokeStyle = "rgba(0,0,0,0.85)";
  ctx.strokeText(text, x, y);
  ctx.fillStyle = colour;
  ctx.fillText(text, x, y);
  ctx.restore();
}
