// Cornerstone's default display-set split rules (@cornerstonejs/metadata's
// displayset/compiledDisplaySetRules.js), compiled when first read instead of at import.
// The original compiles every rule's expressions while the bundle starts (about 10 ms of a
// fresh tab's 45-65 ms, docs/measurements.md); the viewer makes no display sets, and
// nothing in the bundle reads the rules at import (build.mjs puts this module in place of
// the original). Each export is a view of the one compiled object: reading, listing,
// writing or deleting a rule compiles the rules first and acts on the compiled object.
import { createDisplaySetSplitRules, displaySetRules } from "../../node_modules/@cornerstonejs/metadata/dist/esm/displayset/displaySetRules.js";

let compiled = null;
const rules = () => (compiled ??= createDisplaySetSplitRules(displaySetRules));

const view = new Proxy(
  {},
  {
    get: (_, key) => Reflect.get(rules(), key),
    set: (_, key, value) => Reflect.set(rules(), key, value),
    has: (_, key) => Reflect.has(rules(), key),
    ownKeys: () => Reflect.ownKeys(rules()),
    getOwnPropertyDescriptor: (_, key) => {
      const d = Reflect.getOwnPropertyDescriptor(rules(), key);
      return d && { ...d, configurable: true }; // the target ({}) has none of them
    },
    defineProperty: (_, key, d) => Reflect.defineProperty(rules(), key, d),
    deleteProperty: (_, key) => Reflect.deleteProperty(rules(), key),
    getPrototypeOf: () => Reflect.getPrototypeOf(rules()),
  },
);

export const compiledDisplaySetRules = view;
export const defaultDisplaySetSplitRules = view;
