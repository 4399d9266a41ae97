#!/usr/bin/env node
// Entry point: the compiled CLI (run `npm run build` first).
require('../dist/src/cli/index.js').main(process.argv);
