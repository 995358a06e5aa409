// Keyboard operation of the panels, for a reader without a mouse: zoom, pan, window/level
// and a mark at the panel's centre. Each key feeds the active panel the events a mouse
// would (a wheel step, a middle or right drag, a left click), so the tools, synchronisers
// and both render paths (WebGL and CPU, whose pan and zoom differ: renderer.ts) do exactly
// what they do for the mouse. Until 6 December 2026 zoom, pan, a fine window and marking
// needed a mouse (h/a11y).

/** How far one key press drags, in CSS pixels (a pan step; a window/level step). */
export const STEP_PX = 40;
const ZOOM_WHEEL_STEPS = 3;

/** What a key asks of the active panel, or `null` when the key is not one of these. */
export type Gesture =
  | { kind: "zoom"; steps: number }
  | { kind: "drag"; button: 1 | 2; dx: number; dy: number }
  | { kind: "click" };

const ARROWS: Record<string, [number, number]> = {
  ArrowLeft: [-1, 0],
  ArrowRight: [1, 0],
  ArrowUp: [0, -1],
  ArrowDown: [0, 1],
};

/** The gesture of a key: `+`/`=` zoom in, `-` zoom out; Shift+arrows pan (a middle drag
 * that way); Alt+arrows window/level (a right drag that way: left/right narrower/wider,
 * up/down level); Enter a left click at the centre (the mark tool's mark). */
export function gesture(ev: KeyboardEvent): Gesture | null {
  if (ev.ctrlKey || ev.metaKey) return null;
  const k = ev.key;
  if (!ev.altKey && (k === "+" || k === "=")) return { kind: "zoom", steps: 1 };
  if (!ev.altKey && (k === "-" || k === "_")) return { kind: "zoom", steps: -1 };
  if (!ev.altKey && !ev.shiftKey && k === "Enter") return { kind: "click" };
  const arrow = ARROWS[k];
  if (arrow && (ev.shiftKey !== ev.altKey)) {
    return { kind: "drag", button: ev.shiftKey ? 1 : 2, dx: arrow[0] * STEP_PX, dy: arrow[1] * STEP_PX };
  }
  return null;
}

function pointer(x: number, y: number, button: number, buttons: number): MouseEventInit {
  return { clientX: x, clientY: y, screenX: x, screenY: y, button, buttons, bubbles: true, cancelable: true, view: window };
}
const frame = () => new Promise<void>((r) => requestAnimationFrame(() => r()));

/** Play `g` on the panel's viewport element `el`, at its centre. */
export async function play(el: HTMLElement, g: Gesture): Promise<void> {
  const r = el.getBoundingClientRect();
  const x = r.left + r.width / 2;
  const y = r.top + r.height / 2;
  if (g.kind === "zoom") {
    // Cornerstone's zoom tool, three wheel steps a key (one zoomed by 4%); a wheel event of
    // positive deltaY zooms in.
    for (let k = 0; k < ZOOM_WHEEL_STEPS; k++) {
      el.dispatchEvent(new WheelEvent("wheel", { ...pointer(x, y, 0, 0), deltaY: 120 * g.steps, deltaMode: 0 }));
    }
    return;
  }
  if (g.kind === "click") {
    el.dispatchEvent(new MouseEvent("mousedown", pointer(x, y, 0, 1)));
    document.dispatchEvent(new MouseEvent("mouseup", pointer(x, y, 0, 0))); // reaches window too
    return;
  }
  const buttons = g.button === 1 ? 4 : 2;
  el.dispatchEvent(new MouseEvent("mousedown", pointer(x, y, g.button, buttons)));
  const moves = 4;
  for (let k = 1; k <= moves; k++) {
    await frame();
    document.dispatchEvent(new MouseEvent("mousemove", pointer(x + (g.dx * k) / moves, y + (g.dy * k) / moves, g.button, buttons)));
  }
  document.dispatchEvent(new MouseEvent("mouseup", pointer(x + g.dx, y + g.dy, g.button, 0)));
}

/** Whether a key pressed in `target` belongs to that control (a list, a slider, a text
 * field: its arrows, letters and Enter), not to the viewer's shortcuts. Escape and the
 * Ctrl shortcuts always reach the viewer. The opacity slider's arrows turned the case. */
export function ownedByControl(target: EventTarget | null, ev: KeyboardEvent): boolean {
  if (!(target instanceof HTMLElement) || ev.key === "Escape" || ev.ctrlKey || ev.metaKey) return false;
  const tag = target.tagName;
  if (tag === "SELECT" || tag === "TEXTAREA" || target.isContentEditable) return true;
  if (tag === "INPUT") {
    const range = (target as HTMLInputElement).type === "range";
    return !range || /^(Arrow|Page|Home|End)/.test(ev.key);
  }
  // A toolbar button's own Enter and Space press it.
  return tag === "BUTTON" && (ev.key === "Enter" || ev.key === " ");
}

/** Whether the page around the frame has a text field or list in use (the reader typing a
 * name): the pointer passing over the viewer must not take the keyboard from it. */
export function pageIsTyping(): boolean {
  try {
    const e = window.parent.document.activeElement as HTMLElement | null;
    if (!e || e.tagName === "IFRAME") return false;
    return e.tagName === "INPUT" || e.tagName === "TEXTAREA" || e.tagName === "SELECT" || e.isContentEditable;
  } catch {
    return false; // another origin: as before
  }
}
