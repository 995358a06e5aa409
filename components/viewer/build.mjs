// Builds dist/ from src/ (deterministic: same lock file, same bytes; no timestamps, no
// source maps with absolute paths). Run by `npm run build` and scripts/check_viewer_build.sh.
import { build } from "esbuild";
import { copyFileSync, mkdirSync } from "node:fs";

mkdirSync("dist", { recursive: true });
await build({
  entryPoints: ["src/index.ts"],
  bundle: true,
  format: "iife",
  minify: true,
  target: "es2020",
  legalComments: "none",
  charset: "utf8",
  // xmlbuilder2 (pulled in by the tools' DICOM-SR code, unused here) requires Node's url.
  alias: { url: "./src/url-shim.js" },
  outfile: "dist/viewer.js",
  logLevel: "warning",
});
copyFileSync("src/index.html", "dist/index.html");
// The full-resolution channel (src/channel.ts): a component of its own, a few lines.
mkdirSync("dist/channel", { recursive: true });
await build({
  entryPoints: ["src/channel.ts"],
  bundle: true,
  format: "iife",
  minify: true,
  target: "es2020",
  legalComments: "none",
  charset: "utf8",
  outfile: "dist/channel/channel.js",
  logLevel: "warning",
});
copyFileSync("src/channel.html", "dist/channel/index.html");
