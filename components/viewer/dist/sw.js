// Keeps the viewer's bundle in the browser across page loads (registered by index.html).
// Streamlit serves a component's files with "Cache-Control: public" but no max-age and no
// validator, so every page with the viewer downloaded the whole bundle again (gzipped by
// the server each time) and compiled it anew. index.html asks for `viewer.js?v=VERSION`
// (VERSION: the bundle's content hash, written by build.mjs) and registers this worker as
// `sw.js?v=VERSION`; the worker stores that one URL in the Cache Storage when it installs
// (where Chrome also keeps the compiled code) and answers it from there; other versions
// are deleted when a new worker takes over, and every other request goes to the network.
const version = new URL(self.location.href).searchParams.get("v");
const script = new URL(`viewer.js?v=${version}`, self.location.href).href;
const CACHE = "mcalc-viewer";

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.add(script))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then(async (cache) => {
        for (const request of await cache.keys()) {
          if (request.url !== script) await cache.delete(request);
        }
      })
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  if (event.request.url !== script) return;
  event.respondWith(
    caches
      .open(CACHE)
      .then((cache) => cache.match(script))
      .then((hit) => hit || fetch(event.request)),
  );
});
