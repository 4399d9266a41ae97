// Stopping a run on request (Ctrl+C in the CLI): the run ends after the current step with a checkpoint, and --resume
// continues it to exactly the weights of an uninterrupted run; the CLI turns SIGINT into that and exits with 130.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createCpuBackend } from '../../src/backends/cpu/cpu_backend';
import { readSafetensors } from '../../src/io/safetensors';
import { pretrain, type PretrainOptions } from '../../src/pretrain/run';
import { repoRoot } from '../helpers';

const data = path.join(repoRoot, 'data', 'imagenette-mini', 'val');
const base = (out: string): PretrainOptions => ({
  data, arch: 'itpn_tiny', imgSize: 32, batch: 4, accumIter: 1, steps: 4, blr: 1.5e-3, minLr: 0, warmupSteps: 1,
  weightDecay: 0.05, seed: 5, out, resume: false, workers: 1, vizEvery: 0, saveEvery: 0, maskRatio: 0.75,
});
const trainerStep = (out: string) => JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'trainer.json'), 'utf8')).step as number;

test('a stop request ends the run after its step with a checkpoint; --resume finishes it as if uninterrupted', async () => {
  const backend = createCpuBackend({ threads: 1 });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-stop-'));
  const quiet = () => undefined;
  const a = path.join(tmp, 'a'), b = path.join(tmp, 'b');
  try {
    await pretrain(backend, base(a), quiet);
    let polls = 0; // requested from the second poll on, i.e. during step 2
    const s = await pretrain(backend, { ...base(b), stop: { get requested() { return ++polls >= 2; } } }, quiet);
    assert.equal(s.interrupted, true);
    assert.equal(s.steps, 2);
    assert.equal(trainerStep(b), 2);
    const resumed = await pretrain(backend, { ...base(b), resume: true }, quiet);
    assert.equal(resumed.interrupted, false);
    assert.equal(resumed.steps, 4);
    const wa = readSafetensors(path.join(a, 'checkpoint/model.safetensors')).tensors;
    const wb = readSafetensors(path.join(b, 'checkpoint/model.safetensors')).tensors;
    for (const [name, t] of wa) assert.deepEqual(wb.get(name)!.data, t.data, `weights differ after the interrupted run resumed: ${name}`);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

test('itpn pretrain: SIGINT saves a checkpoint, says how to resume and exits with 130', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-sigint-'));
  const out = path.join(tmp, 'run');
  try {
    const child = spawn(process.execPath, [path.join(repoRoot, 'bin', 'itpn.js'), 'pretrain', '--data', data, '--arch', 'itpn_tiny',
      '--img-size', '32', '--batch', '4', '--steps', '500', '--workers', '1', '--threads', '1', '--viz-every', '0',
      '--save-every', '0', '--out', out], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '', sent = false;
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      if (!sent && /step 1\/500/.test(stdout)) { // without a TTY the log prints step 1, then every 10th
        sent = true;
        child.kill('SIGINT');
      }
    });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    assert.equal(signal, null, `killed by ${signal}: ${stderr.slice(-500)}`);
    assert.equal(code, 130, `exit ${code}: ${stderr.slice(-500)}`);
    assert.match(stderr, /SIGINT: stopping after the current step/);
    const step = trainerStep(out);
    assert.ok(step >= 1 && step < 500, `checkpoint at step ${step}`);
    assert.match(stdout, new RegExp(`interrupted at step ${step} of 500; .*--resume`));
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
