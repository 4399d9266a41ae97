// config.json keeps every setting of a run but not the live Ctrl+C flag of the process that started it, and --resume
// checks a command against it before loading the checkpoint.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { checkResumeMatches, writeRunConfig } from '../../src/training/run_config';

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

test('checkResumeMatches: the same run passes; another arch, task or size is named in one sentence', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-resume-check-'));
  try {
    checkResumeMatches(dir, { arch: 'itpn_tiny', task: 'pixel', imgSize: 32 }); // no config.json: nothing to compare
    writeRunConfig(dir, { arch: 'itpn_tiny', task: 'pixel', config: { img_size: 32 } }, {});
    checkResumeMatches(dir, { arch: 'itpn_tiny', task: 'pixel', imgSize: 32 });
    assert.throws(() => checkResumeMatches(dir, { arch: 'itpn_small', task: 'pixel', imgSize: 32 }),
      /was started as itpn_tiny pixel at 32 px, but this command asks for itpn_small pixel at 32 px/);
    assert.throws(() => checkResumeMatches(dir, { arch: 'itpn_tiny', task: 'clip', imgSize: 32 }), /asks for itpn_tiny clip at 32 px/);
    assert.throws(() => checkResumeMatches(dir, { arch: 'itpn_tiny', task: 'pixel', imgSize: 48 }), /asks for itpn_tiny pixel at 48 px/);
    fs.writeFileSync(path.join(dir, 'config.json'), '{ not json');
    checkResumeMatches(dir, { arch: 'itpn_small', task: 'pixel', imgSize: 48 }); // unreadable: left to the shape check
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
