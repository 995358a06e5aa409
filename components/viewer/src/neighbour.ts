// The case Next or Previous leads to, shown at the key or click itself (hooks in index.ts).
//
// Browse's *Next ▶* (and the viewer's N key) used to wait for the run: the click went to
// the server, the run sent the new case's panels, and only then did the viewer swap its
// images in (caseswap.ts), although it already held their pixels (sent ahead, ahead.ts).
// Now each render may name the neighbours: `{next, previous: {case_key, panels, button}}`,
// panels without pixels whose pixel ids Python has sent to this browser. On the N/P keys,
// and on a click on the page's button of that widget key (a listener on the parent
// document: the component's frame is served from the app's own origin), the viewer shows
// that case at once when it holds every image of it; the run follows and its render, for
// the same case, changes nothing but what differs (or shows another case, if the run
// decided otherwise: the render always has the last word). The neighbours' Cornerstone
// images are made as soon as their pixels are here (index.ts `imagesAhead`), not at the
// click: the swap then only sets them in the viewports.
interface PanelLike {
  key: string;
  pixel_id?: string;
  pixels?: string;
}
export interface Neighbour {
  case_key: string;
  panels: PanelLike[];
  button?: string | null; // the page's widget key of the button leading there
}
export type Direction = "next" | "previous";
export type Neighbours = Partial<Record<Direction, Neighbour | null>>;

let current: Neighbours = {};
let shown = 0;
let made = 0; // images of neighbours made before their click (index.ts imagesAhead)
let hooked: Document | null = null;

/** The neighbours of the render just drawn (none: nothing is shown at a click). */
export function set(n: Neighbours | null | undefined): void {
  current = n ?? {};
}

/** The neighbour in `dir`, when there is one and it is not `onScreen` already. */
export function pick(dir: Direction, onScreen: string): Neighbour | null {
  const n = current[dir];
  if (!n?.panels?.length || n.case_key === onScreen) return null;
  return n;
}

/** Call `show` after the page has sent the click's or key's message to the server.
 * Streamlit (1.67) sends a button's trigger from a task it queues with setTimeout(0) while
 * handling the click; a task queued from here at once came first (the viewer's listener
 * on the parent document runs before the page's own), so the 30-40 ms swap delayed the
 * run's start by as much. A task queued from a task queued now comes after the page's. */
export function afterSend(show: () => void): void {
  setTimeout(() => setTimeout(show, 0), 0);
}

/** Count one case shown at a click or key (published for tests and benches). */
export function counted(): void {
  shown += 1;
}

/** Count one neighbour's image made ahead of its click (published for tests and benches). */
export function madeAhead(): void {
  made += 1;
}

/** Listen, on the parent document, for clicks on the buttons the neighbours name; `show`
 * draws after the page's message to the server (`afterSend`). */
export function watchButtons(show: (dir: Direction) => void): void {
  let doc: Document;
  try {
    doc = window.parent.document; // throws when the frame is not of the app's origin
  } catch {
    return;
  }
  if (!doc || doc === document || hooked === doc) return;
  hooked = doc;
  const onClick = (ev: Event): void => {
    const target = ev.target as Element | null;
    for (const dir of ["next", "previous"] as Direction[]) {
      const key = current[dir]?.button;
      if (!key) continue;
      const button = target?.closest?.(`.st-key-${key} button`) as HTMLButtonElement | null;
      if (button && !button.disabled) show(dir); // draws after the click's message
    }
  };
  doc.addEventListener("click", onClick, true);
  window.addEventListener("pagehide", () => doc.removeEventListener("click", onClick, true));
}

/** The state for tests and benches, on the root element's data-* attributes. */
export function publish(d: DOMStringMap): void {
  d.neighbourShown = String(shown);
  d.neighbourImagesAhead = String(made);
}
