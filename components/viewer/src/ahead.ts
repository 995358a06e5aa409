// Pixels sent ahead, fetched apart from the render (hooks in index.ts).
//
// Browse prefetches the case after the one shown; its pixels used to ride in the render
// message of the case shown (the `pixels` binary argument, pixels.ts), so every *Next*'s
// message carried about 3.8 MB in front of its own small change: the run, Streamlit's
// message and the browser's handling of it all waited for bytes the switch did not need.
// Now Python puts them in one of the session's media files (pages/viewer_component.py
// `pixels_apart`) and the render names it: `pixels_ahead = {url, index}`. Once the case
// is drawn the viewer fetches that URL (plain HTTP: no script run, no websocket message)
// and hands the bytes to pixels.ts like a render's, which holds them until a panel shows
// them. A render for a new case first waits for a fetch under way (so it does not ask
// again for pixels about to arrive); a fetch that fails leaves the ids lacking, and
// pixels.ts asks for them as before ({"type": "pixels"}: they then come in a render).
// When the next case's pixels could not go with a render that brought its own case's (a
// page load: not made yet), the render says `ask_ahead` and the viewer, once it has that
// render and the case's pixels, asks for them ({"type": "ahead"}: ask()) while it draws.
// A rerun the server made on its own for them came before this frame was ready on a page
// load, and Streamlit hands a component only its latest arguments: the render with the
// pixels never arrived, and they were sent again (docs/measurements.md, 4 December 2026).
import type { Entry } from "./pixels";

export interface Ahead {
  url: string;
  index: Entry[];
}
type Receive = (index: Entry[], data: Uint8Array) => Promise<void>;

let inflight: Promise<void> = Promise.resolve();
let lastUrl = "";
let fetched = 0;
let failed = "";
let askedFor = ""; // the case whose next case's pixels were asked for
let asks = 0;

/** The media URL as this frame must ask for it: the component's files are served under
 * the app's base path (`<base>/component/<name>/index.html`), the media under `<base>`. */
function resolve(url: string): string {
  if (/^https?:/.test(url)) return url;
  const path = window.location.pathname;
  const at = path.indexOf("/component/");
  return `${at > 0 ? path.slice(0, at) : ""}${url}`;
}

/** Fetch `a`'s pixels (once per URL) and hand them to `receive`; not awaited by the
 * render (the next render awaits it through `arrived`). */
export function start(a: Ahead | null | undefined, receive: Receive): void {
  if (!a?.url || !a.index?.length || a.url === lastUrl) return;
  lastUrl = a.url;
  inflight = (async () => {
    try {
      // A range: Streamlit gzips a whole media answer of this type at level 9 on every
      // fetch (seconds of the server's CPU for megabytes of pixels), a partial one never.
      const res = await fetch(resolve(a.url), { headers: { Range: "bytes=0-" } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const data = new Uint8Array(await res.arrayBuffer());
      fetched += data.byteLength;
      await receive(a.index, data);
    } catch (err) {
      failed = `${a.url}: ${(err as Error).message}`;
    }
  })();
}

const WAIT_MS = 3000; // a render waits no longer than this for a fetch under way

/** A fetch under way, finished (or failed, or WAIT_MS passed: the render goes on and asks
 * for what it lacks). */
export function arrived(): Promise<void> {
  return Promise.race([inflight, new Promise<void>((r) => setTimeout(r, WAIT_MS))]);
}

/** Ask for the next case's pixels when a render that says `ask_ahead` came with its
 * case's (once per case). */
export function ask(a: { case_key: string; ask_ahead?: boolean }, emit: (e: Record<string, unknown>) => void): void {
  if (!a.ask_ahead || a.case_key === askedFor) return;
  askedFor = a.case_key;
  asks += 1;
  emit({ type: "ahead", case: a.case_key });
}

/** The state for tests and benches, on the root element's data-* attributes. */
export function publish(d: DOMStringMap): void {
  d.aheadBytes = String(fetched);
  d.aheadAsks = String(asks);
  if (failed) d.aheadError = failed;
}
