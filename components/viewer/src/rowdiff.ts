// The row differences of zlib-delta16 undone (mcalc/present/fullres.py encodes them: each
// value less its left neighbour, modulo 2**16, the first of a row as it is), for both ways
// images come: Browse's panel pixels (pixels.ts) and full resolution (fullres.ts).

/** Undo the row differences of `values` (rows x cols, row-major) in place: each becomes
 * the running sum of its row, modulo 2**16. Returns `values`. Self-contained (it names
 * nothing outside itself): fullres.ts hands its source text to the inflating worker. */
export function undoRowDiff(values: Uint16Array, rows: number, cols: number): Uint16Array {
  for (let r = 0; r < rows; r++) {
    let acc = 0;
    const end = (r + 1) * cols;
    for (let k = r * cols; k < end; k++) {
      acc = (acc + values[k]) & 0xffff;
      values[k] = acc;
    }
  }
  return values;
}
