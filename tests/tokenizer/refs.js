// Loads a reference package from tests/npm/node_modules, or exits 77 (ctest: skipped) when it is
// not installed there (scripts/install-deps.sh runs npm install in tests/npm).
"use strict";
const path = require("path");

const root = path.join(__dirname, "..", "npm", "node_modules");

function load(name) {
  try {
    return require(path.join(root, name));
  } catch (e) {
    console.log(`SKIP: ${name} is not installed in tests/npm (run scripts/install-deps.sh): ${e.message}`);
    process.exit(77);
  }
}

module.exports = { load, root };
