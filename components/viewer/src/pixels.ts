// Panel pixels sent as binary, once per image and browser (hooks in index.ts).
//
// Browse's panels name a `pixel_id` instead of carrying base64 `pixels`; the values come in
// a render's binary argument (`pixels_data`, zlib of row-differenced little-endian uint16:
// mcalc/present/panel_cache.py, the codec of fullres.ts) with an index (`pixels`), only
// when Python has not sent that id to this browser before. A display toggle or a return to
// a case therefore carries no pixels, and the next case's pixels may come ahead of time.
// Values wait here (a few cases' worth) until a panel shows them and they become a
// Cornerstone image. A panel whose pixels are neither here nor in Cornerstone's cache (the
// page was reloaded, the cache let it go) is asked for: {"type": "pixels", "keys": [...]},
// and the current case stays on screen until they come.
//
// A page switch unmounts this frame (Browse, Predict and Annotate each make a new one), but
// the Streamlit page around it stays for the life of the tab and of its Streamlit session:
// every image's compressed bytes are kept there too (`kept`, in the parent window, a
// bounded LRU), and a frame made after a page switch inflates the images it lacks from
// there instead of having them sent again (3.7 MB over the websocket per return to Browse
// on the demo set, 2.1 MB per return to Predict). The server counts them as held across
// the switch (pages/viewer_component.py `sent_pixels`); one evicted here is asked for.
//
// The sidebar's display options (window preset, invert) arrive as each panel's `window`
// and `invert`: applyDisplay() applies a change to the case on screen, in the browser.
import { undoRowDiff } from "./rowdiff";
import { tabMap } from "./tab";
import * as cs from "@cornerstonejs/core";

export interface Entry {
  id: string;
  rows: number;
  cols: number;
  codec: string;
  offset: number;
  length: number;
}
interface PanelLike {
  key: string;
  rows: number;
  cols: number;
  pixels?: string;
  pixel_id?: string;
  window: [number, number];
  invert: boolean;
}

const CODEC = "zlib-delta16";
const MAX_HELD = 16; // images received but not shown yet (four cases)
const ASK_AGAIN_MS = 10_000; // an answer lost (a rerun interrupted): ask again after this
const held = new Map<string, Uint16Array>(); // pixel id -> values, oldest first
const later: { e: Entry; data: Uint8Array }[] = []; // sent ahead, not inflated yet
const asked = new Map<string, number>(); // pixel id -> when it was asked for
const supported = typeof DecompressionStream !== "undefined";
let bytesIn = 0;
let bytesKept = 0; // bytes of this frame's images found in the tab's keep (not sent again)
let inflated = 0; // images this frame inflated
let copied = 0; // images this frame took inflated from the tab's keep
let requests = 0;

/** What the tab keeps of one image: its compressed bytes and how to inflate them, and
 * for the most recently used ones their values as inflated (`values`). */
interface Kept {
  rows: number;
  cols: number;
  codec: string;
  data: Uint8Array;
  values?: Uint16Array;
}
const KEEP_MAX = 32; // images (eight cases of four; the demo's previews: about 30 MB)
const KEEP_SLOT = "__mcalcViewerPixels";
// Images whose inflated values the tab keeps too (the most recently used: the case shown,
// the next and the previous one; the demo's previews, 2 bytes a pixel: about 20 MB): a
// frame made after a page switch copies them instead of inflating them again. Inflating a
// return to Browse's twelve images cost its renderer 0.09 s of main-thread time
// (`DecompressionStream`, then the rows' differences undone: docs/measurements.md).
const VALUES_MAX = 12;

/** The tab's keep of compressed images (pixel id -> Kept, oldest first): `tabMap`'s, so
 * everything put there is made in the parent window's realm (its objects and typed arrays). */
function keep(): { host: typeof globalThis; map: Map<string, Kept> } | null {
  return tabMap<string, Kept>(KEEP_SLOT);
}

/** Keep the compressed bytes of `e` (in `data`) for frames made after a page switch. */
function keepEntry(e: Entry, data: Uint8Array): void {
  const k = keep();
  if (!k || e.codec !== CODEC) return;
  const { host, map } = k;
  if (map.has(e.id)) {
    const had = map.get(e.id) as Kept;
    map.delete(e.id);
    map.set(e.id, had); // most recent last
    return;
  }
  const bytes = new host.Uint8Array(e.length);
  bytes.set(data.subarray(e.offset, e.offset + e.length));
  map.set(e.id, host.Object.assign(new host.Object(), { rows: e.rows, cols: e.cols, codec: e.codec, data: bytes }) as Kept);
  while (map.size > KEEP_MAX) map.delete(map.keys().next().value as string);
}

/** Keep an image's inflated values with its compressed bytes, for the `VALUES_MAX` most
 * recently used images; older ones keep their bytes only. Values inflated into the tab's
 * realm (inflateInto) are kept as they are, the same buffer as the frame's image (nothing
 * writes into an image's values); others are copied there. */
function keepValues(id: string, values: Uint16Array): void {
  const k = keep();
  const got = k?.map.get(id);
  if (!k || !got || got.values) return;
  got.values =
    values.buffer instanceof k.host.ArrayBuffer
      ? new k.host.Uint16Array(values.buffer, values.byteOffset, values.length)
      : new k.host.Uint16Array(values);
  let n = 0;
  for (const [, v] of [...k.map].reverse()) if (v.values && ++n > VALUES_MAX) delete v.values;
}

/** The images of `panels` that this frame lacks but the tab keeps, queued to be inflated
 * (by receive() or receiveRest()) as if a render had brought them. `shown`: the panels are
 * a render's, on screen now: the keep counts their images as the most recently used (also
 * those this frame holds already), so that it lets the images not shown for longest go
 * first, never the case on screen. */
export function restore(panels: PanelLike[], shown = false): void {
  const k = keep();
  if (!k) return;
  for (const p of panels) {
    const id = p.pixel_id;
    if (!id) continue;
    const got = k.map.get(id);
    if (!got) continue;
    if (shown) {
      k.map.delete(id);
      k.map.set(id, got); // most recent last
    }
    if (p.pixels || held.has(id) || cs.cache.getImage(`mcalc:${id}`) || later.some((x) => x.e.id === id)) continue;
    if (got.values?.length === got.rows * got.cols) {
      // A view of this frame's realm on the tab's buffer (no copy: the frame may hold the
      // tab's objects, not the other way round).
      held.set(id, new Uint16Array(got.values.buffer, got.values.byteOffset, got.values.length));
      bytesKept += got.data.length;
      copied += 1;
      continue;
    }
    const data = new Uint8Array(got.data.buffer, got.data.byteOffset, got.data.length); // a view, as above
    later.push({ e: { id, rows: got.rows, cols: got.cols, codec: got.codec, offset: 0, length: data.length }, data });
    bytesKept += data.length;
  }
}
let renderMs = -1;
let failed = "";

/** Cornerstone's image id of a panel's preview (the pixel id when it has one). */
export function imageId(p: PanelLike): string {
  return p.pixel_id ? `mcalc:${p.pixel_id}` : `mcalc:${p.key}:${p.rows}x${p.cols}`;
}

/** Inflate the pixels a render brought (if any) for `panels` (all when not given); they
 * wait here until shown. Those of other panels (the next case's, sent ahead) are kept
 * compressed until receiveRest(), so that inflating them never delays the case shown. */
export async function receive(
  index: Entry[] | undefined,
  data: Uint8Array | undefined,
  panels?: PanelLike[],
): Promise<void> {
  if (index?.length && data?.length) {
    // Counted once per image: Streamlit hands a frame the same render again (a height
    // change), and the pixels in it are not new then.
    const known = (id: string) => held.has(id) || cs.cache.getImage(`mcalc:${id}`) || later.some((x) => x.e.id === id);
    bytesIn += index.reduce((n, e) => n + (known(e.id) ? 0 : e.length), 0);
    for (const e of index) keepEntry(e, data);
    later.push(...index.map((e) => ({ e, data })));
  }
  if (panels) restore(panels, true);
  const now = panels ? new Set(panels.map((p) => p.pixel_id)) : null;
  const todo = later.filter((x) => !now || now.has(x.e.id));
  if (!todo.length) return;
  later.splice(0, later.length, ...later.filter((x) => !todo.includes(x)));
  await Promise.all(todo.map(({ e, data: d }) => inflate([e], d)));
}

/** Inflate what receive() kept for later (the pixels sent ahead). */
export async function receiveRest(): Promise<void> {
  const todo = later.splice(0);
  for (const { e, data } of todo) await inflate([e], data);
}

async function inflate(index: Entry[], data: Uint8Array): Promise<void> {
  await Promise.all(
    index.map(async (e) => {
      if (e.codec !== CODEC || held.has(e.id) || cs.cache.getImage(`mcalc:${e.id}`)) return;
      try {
        const values = await inflateInto(data.subarray(e.offset, e.offset + e.length), e.rows, e.cols);
        held.set(e.id, values);
        inflated += 1;
        keepValues(e.id, values);
        asked.delete(e.id);
      } catch (err) {
        failed = `${e.id}: ${(err as Error).message}`;
      }
    }),
  );
  while (held.size > MAX_HELD) held.delete(held.keys().next().value as string);
}

/** Inflate and undo the row differences (zlib-delta16, as fullres.ts's decode()) straight
 * into one buffer of the image's size, made in the tab's realm when the tab keeps images
 * (keepValues() then keeps it without a copy): no chunks gathered and joined (`arrayBuffer()`)
 * and no second copy for the keep, whose garbage (outside V8's heap, counted towards its
 * global allocation limit) set off major GCs (docs/measurements.md, "h/gc"). */
async function inflateInto(data: Uint8Array, rows: number, cols: number): Promise<Uint16Array> {
  const want = 2 * rows * cols;
  const host = keep()?.host;
  const buf = host ? new host.ArrayBuffer(want) : new ArrayBuffer(want);
  const bytes = new Uint8Array(buf);
  const reader = new Blob([data as BlobPart]).stream().pipeThrough(new DecompressionStream("deflate")).getReader();
  let got = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (got + value.byteLength > want) {
      void reader.cancel();
      throw new Error(`full image: more than ${want} bytes, expected ${rows}x${cols} uint16`);
    }
    bytes.set(value, got);
    got += value.byteLength;
  }
  if (got !== want) throw new Error(`full image: ${got} bytes, expected ${rows}x${cols} uint16`);
  const out = new Uint16Array(buf); // little-endian, as every browser's platform is
  return undoRowDiff(out, rows, cols);
}

/** The values of a panel for its Cornerstone image (handed over: the image keeps them). */
export function take(p: PanelLike): Uint16Array {
  const id = p.pixel_id ?? "";
  const values = held.get(id);
  if (!values) throw new Error(`${p.key}: its pixels have not arrived`);
  held.delete(id);
  return values;
}

/** Whether some of `panels`' pixels are neither held here nor in Cornerstone's cache (a
 * case shown at a click needs every one: neighbour.ts). */
export function lacking(panels: PanelLike[]): boolean {
  return panels.some(
    (p) => !p.pixels && (!p.pixel_id || (!held.has(p.pixel_id) && !cs.cache.getImage(`mcalc:${p.pixel_id}`))),
  );
}

/** Ask for the pixels of `panels` this browser lacks; true when some are lacking (the
 * caller keeps the current case on screen until they come). */
export function request(panels: PanelLike[], emit: (e: Record<string, unknown>) => void): boolean {
  const lacking = panels
    .filter((p) => !p.pixels && p.pixel_id)
    .map((p) => p.pixel_id as string)
    .filter((id) => !held.has(id) && !cs.cache.getImage(`mcalc:${id}`));
  if (!lacking.length) return false;
  if (!supported) {
    failed = "this browser cannot inflate the images (no DecompressionStream)";
    return false; // showCase then says why the case cannot be shown
  }
  const now = performance.now();
  const again = lacking.filter((id) => now - (asked.get(id) ?? -Infinity) > ASK_AGAIN_MS);
  if (again.length) {
    for (const id of again) asked.set(id, now);
    requests += 1;
    emit({ type: "pixels", keys: again });
  }
  return true;
}

/** Apply the window and invert of a render with the same case when they changed since
 * the last one (a sidebar toggle); the reader's own W/L drags stay otherwise. */
export function applyDisplay(
  before: PanelLike[] | undefined,
  now: PanelLike[],
  viewport: (i: number) => cs.Types.IStackViewport | null,
): void {
  now.forEach((p, i) => {
    const old = before?.[i];
    const vp = viewport(i);
    if (!old || !vp || old.key !== p.key) return;
    const [c, w] = p.window;
    const newWindow = old.window[0] !== c || old.window[1] !== w;
    if (!newWindow && old.invert === p.invert) return;
    vp.setProperties({
      ...(newWindow ? { voiRange: { lower: c - w / 2, upper: c + w / 2 } } : {}),
      invert: p.invert,
    });
    vp.render();
  });
}

/** Remember how long a new case took, from its render message to its panels drawn. */
export function rendered(startMs: number): void {
  renderMs = Number((performance.now() - startMs).toFixed(1));
}

/** The state for tests and benches, on the root element's data-* attributes. */
export function publish(d: DOMStringMap): void {
  d.pixelsIn = String(bytesIn);
  d.pixelsKept = String(bytesKept);
  d.pixelsInflated = String(inflated);
  d.pixelsCopied = String(copied);
  d.pixelsHeld = String(held.size);
  d.pixelsRequests = String(requests);
  d.renderMs = String(renderMs);
  if (failed) d.pixelsError = failed;
}
