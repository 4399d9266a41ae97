// config.json keeps every setting of a run but not the live Ctrl+C flag of the process that started it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeRunConfig } from '../../src/training/run_config';

test('writeRunConfig writes the fields and the options without stop', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-run-config-'));
  try {
    const options = { arch: 'itpn_tiny', batch: 4, stop: { requested: false } };
    writeRunConfig(dir, { arch: 'itpn_tiny', task: 'pixel' }, options);
    const written = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    assert.deepEqual(written, { arch: 'itpn_tiny', task: 'pixel', options: { arch: 'itpn_tiny', batch: 4 } });
    assert.ok(options.stop, 'the caller keeps its flag');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
