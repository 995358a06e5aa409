// Modules the viewer never runs, left out of the bundle (build.mjs says which and why).
export {};
