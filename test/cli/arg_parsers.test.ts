// Numeric options are checked when parsed: values that parseInt/parseFloat used to let through (NaN, 2.5 → 2, -3)
// are refused before a command starts, and the CLI says which option and value.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fraction, nonNegativeInt, nonNegativeNumber, positiveInt } from '../../src/cli/arg_parsers';

test('positiveInt and nonNegativeInt take whole numbers only', () => {
  assert.equal(positiveInt('32'), 32);
  assert.equal(positiveInt(' 7 '), 7);
  assert.equal(nonNegativeInt('0'), 0);
  for (const bad of ['0', '-3', '2.5', 'abc', '', '1e3', '0x10', '12abc', '99999999999999999999']) {
    assert.throws(() => positiveInt(bad), /at least 1/, `positiveInt(${JSON.stringify(bad)})`);
  }
  for (const bad of ['-1', '1.5', 'NaN', ' ']) assert.throws(() => nonNegativeInt(bad), /at least 0/);
});

test('nonNegativeNumber and fraction take finite numbers in range', () => {
  assert.equal(nonNegativeNumber('1.5e-4'), 1.5e-4);
  assert.equal(nonNegativeNumber('0'), 0);
  assert.equal(fraction('0.75'), 0.75);
  assert.equal(fraction('1'), 1);
  for (const bad of ['-1e-3', 'abc', '', 'Infinity', 'NaN']) assert.throws(() => nonNegativeNumber(bad), /at least 0/);
  for (const bad of ['1.5', '-0.1', 'x']) assert.throws(() => fraction(bad), /from 0 to 1/);
});

test('itpn pretrain --steps -3 is refused before the run folder is made', () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-args-')), 'run');
  const bin = path.resolve(__dirname, '../../../bin/itpn.js');
  const r = spawnSync(process.execPath, [bin, 'pretrain', '--steps', '-3', '--out', out], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /option '--steps <n>' argument '-3' is invalid\. expected a whole number of at least 1/);
  assert.ok(!fs.existsSync(out), 'no run folder');
  fs.rmSync(path.dirname(out), { recursive: true, force: true });
});
