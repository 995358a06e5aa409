/** A Map kept in the Streamlit page around this frame (the browser tab), so that what it
 * holds outlives the frame (a page switch unmounts it). The Map is made in that window's
 * realm, and so must be every object put in it (`host` makes them): a value of this
 * frame's realm kept there would keep the whole unmounted frame alive. `null` where the
 * parent cannot be reached (another origin). */
export function tabMap<K, V>(slot: string): { host: typeof globalThis; map: Map<K, V> } | null {
  try {
    const host = window.parent as unknown as typeof globalThis & Record<string, unknown>;
    if (!(host[slot] instanceof host.Map)) host[slot] = new host.Map();
    return { host, map: host[slot] as Map<K, V> };
  } catch {
    return null;
  }
}
