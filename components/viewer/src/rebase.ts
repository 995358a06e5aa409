// The reader's unsaved edits in the viewer, carried onto marks the page changed (Annotate).
//
// The viewer holds its marks and outlines in the browser until Save; the page under it can
// change the marks it was loaded with in the same tab (its Undo, Discard edits, a deletion
// or label under Selected, a restored version). The viewer then gets the page's marks as a
// new `marks_version` and loaded them in place of its own, dropping every mark placed and
// not saved without a word. Instead, what the reader did here since the load (marks added,
// moved, relabelled, deleted) is done again on the page's marks, and stays unsaved: Save
// then stores it on the page's version, with no conflict, since both are this tab's edits.
// (A version saved in another tab or session is not rebased onto: index.ts keeps the
// marks on the version they were made on, so that Save keeps them as a conflict copy.)

/** A mark or outline: an id, with anything else compared as JSON. */
export interface Item {
  id: string;
}

/** `mine`, the reader's items edited from `loaded`, done again on `now`, the page's items
 * that replaced `loaded`: items of `now` the reader deleted are left out, those the reader
 * changed are the reader's, the reader's new ones (ids not in `loaded`) follow, and the
 * reader's changes to an item that `now` no longer has are dropped with it (the page took
 * that item away: its Undo of the save that added it, say). */
export function rebase<T extends Item>(loaded: T[], mine: T[], now: T[]): T[] {
  const before = new Map(loaded.map((x) => [x.id, JSON.stringify(x)]));
  const ours = new Map(mine.map((x) => [x.id, x]));
  const out: T[] = [];
  for (const x of now) {
    const edited = ours.get(x.id);
    if (!before.has(x.id)) out.push(x); // the page's own, new to the reader
    else if (!edited) continue; // deleted here
    else out.push(JSON.stringify(edited) === before.get(x.id) ? x : edited);
  }
  for (const x of mine) if (!before.has(x.id) && !now.some((y) => y.id === x.id)) out.push(x);
  return out;
}
