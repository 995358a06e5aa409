// Builds dist/ from src/ (deterministic: same lock file, same bytes; no timestamps, no
// source maps with absolute paths). Run by `npm run build` and scripts/check_viewer_build.sh.
// `node build.mjs --analyze [META.json]` also prints what the viewer bundle holds, by
// package (and writes esbuild's metafile to META.json, for https://esbuild.github.io/analyze/).
import { build } from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve, sep } from "node:path";

const shim = (name) => resolve("src/shims", name);

// Files of node_modules replaced, wherever they are imported from (by a bare or a relative
// path), by their end: modules the viewer never runs. It draws 2D stacks through WebGL (or
// the CPU path), so not vtk.js's WebGPU back end, which vtk.js's all-in-one rendering
// profiles register beside WebGL (Cornerstone only ever makes WebGL render windows), nor
// vtk.js's mesh file readers (src/shims/mesh-reader.js throws if one is ever used). And one
// module put off rather than left out: Cornerstone's display-set rules.
const replaced = {
  "@kitware/vtk.js/Rendering/WebGPU/Profiles/Geometry.js": shim("empty.js"),
  "@kitware/vtk.js/Rendering/WebGPU/Profiles/Volume.js": shim("empty.js"),
  "@kitware/vtk.js/IO/Geometry/PLYReader.js": shim("mesh-reader.js"),
  "@kitware/vtk.js/IO/Geometry/STLReader.js": shim("mesh-reader.js"),
  "@kitware/vtk.js/IO/XML/XMLPolyDataReader.js": shim("mesh-reader.js"),
  "@kitware/vtk.js/IO/Misc/OBJReader.js": shim("mesh-reader.js"),
  // Cornerstone's default display-set rules, compiled on first read (src/shims/display-set-rules.js).
  "@cornerstonejs/metadata/dist/esm/displayset/compiledDisplaySetRules.js": shim("display-set-rules.js"),
};

// Cornerstone's packages declare "sideEffects": false in their package.json, but each also
// has a nested dist/esm/package.json ({"type": "module"}) and esbuild reads the nearest
// one, so it kept every module those packages import (every tool, every viewport type).
// This plugin gives each file in node_modules the "sideEffects" of its package's own
// package.json (the nearest one with a name): unused modules of such a package are dropped.
// It also applies `replaced`.
const packageFiles = {
  name: "package-files",
  setup(b) {
    const free = new Map(); // folder -> its package declares "sideEffects": false
    const sideEffectFree = (file) => {
      const walked = [];
      let d = dirname(file);
      let answer = false;
      while (d !== dirname(d)) {
        if (free.has(d)) {
          answer = free.get(d);
          break;
        }
        walked.push(d);
        let pkg = null;
        try {
          pkg = JSON.parse(readFileSync(join(d, "package.json"), "utf8"));
        } catch {
          pkg = null;
        }
        if (pkg?.name) {
          answer = pkg.sideEffects === false;
          break;
        }
        d = dirname(d);
      }
      for (const w of walked) free.set(w, answer);
      return answer;
    };
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData?.packageFiles || args.kind === "entry-point") return undefined;
      const r = await b.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: { packageFiles: true },
      });
      if (r.errors.length || r.external || !r.path.includes(`${sep}node_modules${sep}`)) {
        return undefined;
      }
      const inPackages = r.path.split(`${sep}node_modules${sep}`).pop().split(sep).join("/");
      if (inPackages in replaced) return { path: replaced[inPackages] };
      return sideEffectFree(r.path) ? { path: r.path, sideEffects: false } : undefined;
    });
  },
};

// dcmjs, narrowed to the parts Cornerstone reads (src/shims/dcmjs.js, which itself imports
// the real dcmjs).
const dcmjsParts = {
  name: "dcmjs-parts",
  setup(b) {
    b.onResolve({ filter: /^dcmjs$/ }, (args) =>
      args.importer === shim("dcmjs.js") ? undefined : { path: shim("dcmjs.js") },
    );
  },
};

// dcmjs, whose copy of loglevel (the logger behind Cornerstone's cs3d.* loggers too) looks
// for a persisted level in localStorage and, for every logger with none there, in
// document.cookie. Dozens of loggers are made while the bundle is evaluated, so the first
// frame of a tab read the cookie jar (a synchronous call to the browser) during its start;
// with a DevTools session on the tab (Playwright: the benches and browser tests), that first
// read cost about 0.15 s of main-thread CPU in a tab without the bundle's code cache
// (docs/measurements.md, "the viewer's start in a fresh tab"). Levels are persisted and read
// through localStorage as before; a level persisted in a cookie (loglevel's fallback where
// localStorage throws) is no longer read.
const dcmjsFile = /[\\/]node_modules[\\/]dcmjs[\\/]build[\\/]dcmjs\.es\.js$/;
const dcmjsEdits = [["var cookie = window.document.cookie;", 'var cookie = "";']];
const dcmjsNoCookies = {
  name: "dcmjs-no-cookies",
  setup(b) {
    b.onLoad({ filter: dcmjsFile }, (args) => {
      let text = readFileSync(args.path, "utf8");
      for (const [from, to] of dcmjsEdits) {
        const found = text.split(from).length - 1;
        if (found !== 1) {
          throw new Error(
            `build.mjs: expected "${from}" once in ${args.path}, found it ${found} times; ` +
              "dcmjs changed: update dcmjsEdits (or drop it) and check the viewer's start",
          );
        }
        text = text.replace(from, to);
      }
      return { contents: text, loader: "js", resolveDir: dirname(args.path) };
    });
  },
};

// What every bundle shares.
const common = {
  bundle: true,
  format: "iife",
  minify: true,
  target: "es2020",
  legalComments: "none",
  charset: "utf8",
  logLevel: "warning",
};

const analyze = process.argv.includes("--analyze");
mkdirSync("dist", { recursive: true });
const viewer = await build({
  ...common,
  entryPoints: ["src/index.ts"],
  outfile: "dist/viewer.js",
  metafile: analyze,
  plugins: [dcmjsParts, packageFiles, dcmjsNoCookies],
});
// index.html asks for viewer.js?v=VERSION and registers the worker that keeps that
// version in the browser (src/sw.js): the bundle's content hash, so a new build is a new URL.
const version = createHash("sha256").update(readFileSync("dist/viewer.js")).digest("hex").slice(0, 16);
const html = readFileSync("src/index.html", "utf8");
if ((html.match(/VIEWER_VERSION/g) ?? []).length !== 2) {
  throw new Error("src/index.html must name VIEWER_VERSION twice (the script and the worker)");
}
writeFileSync("dist/index.html", html.replaceAll("VIEWER_VERSION", version));
copyFileSync("src/sw.js", "dist/sw.js");
// The full-resolution channel (src/channel.ts): a component of its own, a few lines.
mkdirSync("dist/channel", { recursive: true });
await build({ ...common, entryPoints: ["src/channel.ts"], outfile: "dist/channel/channel.js" });
copyFileSync("src/channel.html", "dist/channel/index.html");

if (analyze) {
  const metaPath = process.argv[process.argv.indexOf("--analyze") + 1];
  if (metaPath?.endsWith(".json")) writeFileSync(metaPath, JSON.stringify(viewer.metafile));
  const [out] = Object.values(viewer.metafile.outputs);
  const byPackage = new Map();
  for (const [file, { bytesInOutput }] of Object.entries(out.inputs)) {
    const m = file.match(/node_modules\/((?:@[^/]+\/)?[^/]+)/);
    const key = m ? m[1] : "src (mcalc)";
    byPackage.set(key, (byPackage.get(key) ?? 0) + bytesInOutput);
  }
  console.log(`dist/viewer.js: ${out.bytes} bytes`);
  for (const [key, bytes] of [...byPackage].sort((a, b) => b[1] - a[1])) {
    console.log(`${String(bytes).padStart(9)}  ${key}`);
  }
}
