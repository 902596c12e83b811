// Bundle each widget's entry (js/<widget>.ts) into one self-contained ES module plus its CSS in
// annowidgets/static/. anywidget loads the ESM from a Blob URL, so no chunks and no relative imports.
import * as esbuild from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const WIDGETS = ["preview", "requests", "hierarchy", "export", "import"];
const watch = process.argv.includes("--watch");

const options = {
  absWorkingDir: root,
  entryPoints: WIDGETS.map((w) => ({ in: `js/${w}.ts`, out: w })),
  outdir: "annowidgets/static",
  bundle: true,
  format: "esm",
  target: "es2020",
  splitting: false,
  minify: !watch,
  sourcemap: watch ? "inline" : false,
  legalComments: "none",
  logLevel: "info",
};

if (watch) {
  const ctx = await esbuild.context(options);
  await ctx.watch();
} else {
  await esbuild.build(options);
}
