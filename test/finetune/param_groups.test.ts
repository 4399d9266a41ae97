// Layer-wise lr decay (spec §6.1): the whole table of itpn_base's classifier, from the function and from
// `itpn finetune --print-param-groups --json --arch itpn_base`, against the rule written out independently:
// L = 3 + 3 + 24 + 1 = 31, d = 0.6^(13/31), scale = d^(31 − id), PatchMerge sharing its predecessor's id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { createReferenceBackend } from '../../src/backends/reference/reference_backend';
import { Rng } from '../../src/engine/random';
import type { Tensor } from '../../src/engine/tensor';
import { classifierConfig, createClassifier } from '../../src/finetune/model';
import { layerDecayParamGroups, layerDecayTable, type ParamRow } from '../../src/optim/layer_decay';
import { repoRoot } from '../helpers';

/** Layer id of each `blocks` index, walking the stages: MLP blocks count up, a PatchMerge repeats the last id. */
function expectedBlockIds(m1: number, m2: number, depth: number): number[] {
  const ids: number[] = [];
  let id = 0;
  for (let i = 0; i < m1; i++) ids.push(++id);
  ids.push(id); // PatchMerge 1
  for (let i = 0; i < m2; i++) ids.push(++id);
  ids.push(id); // PatchMerge 2
  for (let i = 0; i < depth; i++) ids.push(++id);
  return ids;
}

function expectedTable(named: [string, Tensor][]): ParamRow[] {
  const ids = expectedBlockIds(3, 3, 24);
  const L = 31, d = Math.pow(0.6, 13 / 31);
  return named.map(([name, t]) => {
    let id = L;
    if (name === 'absolute_pos_embed' || name.startsWith('patch_embed.')) id = 0;
    const m = /^blocks\.(\d+)\./.exec(name);
    if (m) id = ids[Number(m[1])];
    const noDecay = t.shape.length === 1 || name.endsWith('.bias') || name === 'absolute_pos_embed' || name.endsWith('relative_position_bias_table');
    return { name, layer_id: id, lr_scale: Math.pow(d, L - id), weight_decay: noDecay ? 0 : 0.05 };
  });
}

function baseClassifierParams(): [string, Tensor][] {
  const cfg = classifierConfig({ arch: 'itpn_base', imgSize: 224, numClasses: 1000, dropPath: 0.1 }, null);
  const { model } = createClassifier({ backend: createReferenceBackend(), rng: new Rng(0), shapeOnly: true }, cfg, null);
  return model.namedParameters();
}

function assertTable(got: ParamRow[], want: ParamRow[]): void {
  assert.equal(got.length, want.length, 'one row per parameter');
  want.forEach((w, i) => {
    const g = got[i];
    assert.equal(g.name, w.name);
    assert.equal(g.layer_id, w.layer_id, `${w.name}: layer id`);
    assert.ok(Math.abs(g.lr_scale - w.lr_scale) <= 1e-12 * w.lr_scale, `${w.name}: lr scale ${g.lr_scale} vs ${w.lr_scale}`);
    assert.equal(g.weight_decay, w.weight_decay, `${w.name}: weight decay`);
  });
}

test('layerDecayTable gives d^(L − id) for every parameter of itpn_base (L = 31, d = 0.6^(13/31))', () => {
  const named = baseClassifierParams();
  assert.equal(named.length, 363, 'itpn_base classifier: 364 state-dict tensors minus the relative_position_index buffer');
  const got = layerDecayTable(named, { mlpDepth1: 3, mlpDepth2: 3, depth: 24 }, { layerDecay: 0.6, weightDecay: 0.05 });
  assertTable(got, expectedTable(named));
  const byName = new Map(got.map((r) => [r.name, r]));
  // spot checks written as numbers: PatchMerges share their predecessor's id, the last block is L − 1
  assert.equal(byName.get('blocks.3.reduction.weight')!.layer_id, 3);
  assert.equal(byName.get('blocks.7.reduction.weight')!.layer_id, 6);
  assert.equal(byName.get('blocks.8.attn.qkv.weight')!.layer_id, 7);
  assert.equal(byName.get('blocks.31.mlp.fc2.weight')!.layer_id, 30);
  // the re-normalisation gives the embedding 0.6^13 whatever the depth, as in a 12-layer ViT
  assert.ok(Math.abs(byName.get('patch_embed.proj.weight')!.lr_scale - 0.6 ** 13) < 1e-15);
  assert.equal(byName.get('head.weight')!.lr_scale, 1);

  const groups = layerDecayParamGroups(named, { mlpDepth1: 3, mlpDepth2: 3, depth: 24 }, { layerDecay: 0.6, weightDecay: 0.05 });
  const inGroups = groups.flatMap((g) => g.params.map((p) => ({ name: p.name, lr: g.lrScale, wd: g.weightDecay })));
  assert.equal(inGroups.length, named.length, 'every parameter in exactly one group');
  for (const p of inGroups) {
    const r = byName.get(p.name)!;
    assert.equal(p.lr, r.lr_scale, p.name);
    assert.equal(p.wd, r.weight_decay, p.name);
  }
});

test('itpn finetune --print-param-groups --json --arch itpn_base prints the same table, without data', () => {
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'itpn.js'), 'finetune', '--print-param-groups', '--json', '--arch', 'itpn_base', '--data', '/nonexistent'],
    { cwd: repoRoot, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as ParamRow);
  assertTable(rows, expectedTable(baseClassifierParams()));
});
