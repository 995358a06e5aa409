// The browser's own URL classes for a dependency written for Node's "url" module.
module.exports = { URL: globalThis.URL, URLSearchParams: globalThis.URLSearchParams };
