// Bundles the demo's Uppy example (uppy.js: @uppy/core, @uppy/aws-s3, filegate-client.js) for the
// browser, offline, with the esbuild pinned in package.json; writes .build/demo/ (gitignored),
// which local/demo_server.py serves at /build/. Run by `make local` / `make setup-local` (the
// Makefile's demo bundle target); by hand: `node local/demo/build.mjs`.
//
// Next to the bundle: uppy.js.map, and uppy.js.LICENSES.txt with the license of every package
// whose code is in the bundle (the build fails on a package without a permissive license).
import { mkdir, readFile, readdir, rename, writeFile } from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const outdir = path.join(root, ".build", "demo");
const PERMISSIVE = new Set(["MIT", "ISC", "BSD-2-Clause", "BSD-3-Clause", "Apache-2.0", "0BSD", "(MIT OR CC0-1.0)"]);

async function packageOf(file) {
  // the innermost node_modules/<name> or node_modules/@scope/name holding `file`
  const parts = file.split(path.sep);
  const at = parts.lastIndexOf("node_modules");
  if (at < 0) return null;
  const depth = parts[at + 1].startsWith("@") ? 2 : 1;
  const dir = parts.slice(0, at + 1 + depth).join(path.sep);
  const manifest = JSON.parse(await readFile(path.join(dir, "package.json"), "utf8"));
  return { dir, name: manifest.name, version: manifest.version, license: manifest.license };
}

async function licenseText(dir) {
  const files = await readdir(dir);
  const names = files.filter((name) => /^(licen[cs]e|copying)(\.|$)/i.test(name));
  if (names.length > 0) return (await readFile(path.join(dir, names[0]), "utf8")).trim();
  // some packages keep it in the README's "License" section only
  const readme = files.find((name) => /^readme(\.md)?$/i.test(name));
  if (!readme) return null;
  const text = await readFile(path.join(dir, readme), "utf8");
  const match = /^(#+) *Licen[cs]e.*$/im.exec(text);
  if (!match) return null;
  const rest = text.slice(match.index);
  const next = rest.slice(match[0].length).search(new RegExp(`^#{1,${match[1].length}} `, "m"));
  return (next < 0 ? rest : rest.slice(0, match[0].length + next)).trim();
}

async function main() {
  await mkdir(outdir, { recursive: true });
  const tmp = path.join(outdir, "uppy.tmp.js");
  const result = await esbuild.build({
    absWorkingDir: root,
    entryPoints: [path.join(here, "uppy.js")],
    outfile: tmp,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: "es2022",
    minify: true,
    sourcemap: "linked",
    legalComments: "none",  // all of them are in uppy.js.LICENSES.txt
    banner: { js: "/*! filegate Uppy example. Third-party code and its licenses: uppy.js.LICENSES.txt */" },
    metafile: true,
    logLevel: "warning",
  });
  const packages = new Map();
  const output = result.metafile.outputs[path.relative(root, tmp).split(path.sep).join("/")];
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    if (bytesInOutput === 0) continue;
    const found = await packageOf(path.resolve(root, input));
    if (found) packages.set(found.name, found);
  }
  const sections = [];
  for (const found of [...packages.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    if (!PERMISSIVE.has(found.license)) {
      throw new Error(`${found.name}@${found.version} is bundled but its license (${found.license}) is not on the list`);
    }
    const text = await licenseText(found.dir);
    if (!text) throw new Error(`${found.name}@${found.version} ships no LICENSE file`);
    sections.push(`${found.name}@${found.version} (${found.license})\n\n${text}\n`);
  }
  const notice = "Third-party packages bundled into uppy.js (by local/demo/build.mjs):\n\n"
    + `${sections.join(`\n${"-".repeat(72)}\n\n`)}`;
  await writeFile(path.join(outdir, "uppy.js.LICENSES.txt"), notice);
  // the source map's name follows the bundle's
  const code = (await readFile(tmp, "utf8")).replace(/\/\/# sourceMappingURL=uppy\.tmp\.js\.map\s*$/, "//# sourceMappingURL=uppy.js.map\n");
  await writeFile(tmp, code);
  const map = JSON.parse(await readFile(`${tmp}.map`, "utf8"));
  map.file = "uppy.js";
  await writeFile(`${tmp}.map`, JSON.stringify(map));
  await rename(`${tmp}.map`, path.join(outdir, "uppy.js.map"));
  await rename(tmp, path.join(outdir, "uppy.js"));  // last: the bundle appears whole or not at all
  const size = Buffer.byteLength(code);
  console.log(`local/demo/build.mjs: .build/demo/uppy.js ${(size / 1024).toFixed(1)} KiB, ${packages.size} packages: ${[...packages.keys()].join(", ")}`);
}

main().catch((error) => {
  console.error(`local/demo/build.mjs: ${error.message}`);
  process.exit(1);
});
