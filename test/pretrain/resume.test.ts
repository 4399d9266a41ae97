// Pre-training end to end on the shipped data at a tiny size: the loop runs, writes its outputs, and a run that
// stops and resumes ends with exactly the same weights and log as an uninterrupted one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createCpuBackend } from '../../src/backends/cpu/cpu_backend';
import { readSafetensors } from '../../src/io/safetensors';
import { pretrain, type PretrainOptions } from '../../src/pretrain/run';
import { repoRoot } from '../helpers';

const base = (out: string): PretrainOptions => ({
  data: path.join(repoRoot, 'data', 'imagenette-mini', 'val'),
  arch: 'itpn_tiny', imgSize: 32, batch: 4, accumIter: 2, steps: 4, blr: 1.5e-3, minLr: 0, warmupSteps: 1,
  weightDecay: 0.05, clipGrad: 1.0, seed: 3, out, resume: false, workers: 1, vizEvery: 0, saveEvery: 0, maskRatio: 0.75,
});

test('pretrain writes checkpoint, grid, plot, log; stop + resume equals an uninterrupted run', async () => {
  const backend = createCpuBackend({ threads: 1 });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'itpn-pretrain-'));
  const quiet = () => undefined;
  const a = path.join(tmp, 'a'), b = path.join(tmp, 'b');
  const sa = await pretrain(backend, base(a), quiet);
  assert.equal(sa.steps, 4);
  for (const f of ['checkpoint/model.safetensors', 'checkpoint/optimizer.safetensors', 'checkpoint/trainer.json', 'reconstruction.png', 'loss.png', 'log.jsonl']) {
    assert.ok(fs.existsSync(path.join(a, f)), `missing ${f}`);
  }
  const log = fs.readFileSync(path.join(a, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(log.length, 4);
  for (const r of log) for (const k of ['step', 'loss', 'lr', 'images_per_s']) assert.equal(typeof r[k], 'number');

  await pretrain(backend, { ...base(b), stopAt: 2 }, quiet);
  assert.equal(JSON.parse(fs.readFileSync(path.join(b, 'checkpoint/trainer.json'), 'utf8')).step, 2);
  await pretrain(backend, { ...base(b), resume: true }, quiet);
  const wa = readSafetensors(path.join(a, 'checkpoint/model.safetensors')).tensors;
  const wb = readSafetensors(path.join(b, 'checkpoint/model.safetensors')).tensors;
  assert.equal(wa.size, wb.size);
  for (const [name, t] of wa) assert.deepEqual(wb.get(name)!.data, t.data, `weights differ after resume: ${name}`);
  const logB = fs.readFileSync(path.join(b, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(logB.map((r) => r.loss), log.map((r) => r.loss));
  fs.rmSync(tmp, { recursive: true, force: true });
});
