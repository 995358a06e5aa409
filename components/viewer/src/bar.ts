// The toolbars' groups of controls (index.html's `.bar .grp`): a bar wraps between its
// groups, so that a row break never parts the window presets or the case buttons while a
// group fits a row (a projector's 692 px frame, text 14 px).

/** A new, empty group at the end of ``bar``, to append controls to. */
export function group(bar: HTMLElement): HTMLSpanElement {
  const g = document.createElement("span");
  g.className = "grp";
  bar.appendChild(g);
  return g;
}
