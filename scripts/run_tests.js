// Runs every compiled test file under dist/test with Node's built-in test runner.
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

function find(dir) {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? find(p) : e.name.endsWith('.test.js') ? [p] : [];
  });
}

const root = path.resolve(__dirname, '..');
const filter = process.argv.slice(2);
const files = find(path.join(root, 'dist', 'test')).filter((f) => filter.length === 0 || filter.some((s) => f.includes(s))).sort();
if (files.length === 0) {
  console.error('no test files found under dist/test (did the build run?)');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
