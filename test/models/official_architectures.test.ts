// The released architectures (official-architectures.json): built the way `itpn info <name> --keys --json` builds
// them (parseCombinedName → taskConfig → buildModel, shape-only), each must have exactly the official state-dict
// keys, every shape equal, and the official trainable parameter count (buffers excluded).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng } from '../../src/engine/random';
import { parseCombinedName } from '../../src/cli/info';
import { buildModel, taskConfig } from '../../src/models/itpn/factory';
import { createReferenceBackend } from '../../src/backends/reference/reference_backend';

const repoRoot = path.resolve(__dirname, '../../..');
const archFile = path.join(repoRoot, 'test', 'fixtures', 'official-architectures.json');

interface OfficialArch {
  params: number;
  tensors: Record<string, number[]>;
}
const official = JSON.parse(fs.readFileSync(archFile, 'utf8')) as Record<string, OfficialArch>;

/** Differences between our key → shape map and the official one, as readable lines (empty when identical). */
function diffKeys(ours: Map<string, number[]>, ref: Record<string, number[]>): string[] {
  const problems: string[] = [];
  const refKeys = new Set(Object.keys(ref));
  const missing = [...refKeys].filter((k) => !ours.has(k));
  const extra = [...ours.keys()].filter((k) => !refKeys.has(k));
  if (missing.length) problems.push(`missing ${missing.length} official keys: ${missing.slice(0, 15).join(', ')}${missing.length > 15 ? ', …' : ''}`);
  if (extra.length) problems.push(`${extra.length} keys not in the official model: ${extra.slice(0, 15).join(', ')}${extra.length > 15 ? ', …' : ''}`);
  for (const [k, shape] of ours) {
    const r = ref[k];
    if (r && (r.length !== shape.length || r.some((d, i) => d !== shape[i]))) problems.push(`${k}: ours [${shape.join(', ')}] vs official [${r.join(', ')}]`);
  }
  return problems;
}

test('official-architectures.json lists the six released models', () => {
  assert.deepEqual(Object.keys(official).sort(), [
    'itpn_base_classify_1000', 'itpn_base_clip_pretrain_teacher512', 'itpn_base_pixel_pretrain',
    'itpn_large_classify_1000', 'itpn_large_clip_pretrain_teacher768', 'itpn_large_pixel_pretrain',
  ]);
});

const backend = createReferenceBackend();

for (const [name, ref] of Object.entries(official)) {
  test(`${name}: same keys, shapes and parameter count as the official model`, () => {
    const parsed = parseCombinedName(name);
    assert.ok(parsed, `parseCombinedName does not understand ${name}`);
    const cfg = taskConfig(parsed.arch, parsed.task, parsed.overrides);
    const model = buildModel({ backend, rng: new Rng(0), shapeOnly: true }, cfg, parsed.task);
    try {
      const tensors = model.namedTensors();
      const ours = new Map(tensors.map(([k, t]) => [k, t.shape] as [string, number[]]));
      assert.equal(ours.size, tensors.length, `${name}: duplicate state-dict keys`);
      const problems = diffKeys(ours, ref.tensors);
      assert.deepEqual(problems, [], `${name} (${parsed.arch}, task ${parsed.task}) differs from the official state dict:\n  ${problems.join('\n  ')}`);
      assert.equal(model.parameterCount(), ref.params, `${name}: parameter count`);
    } finally {
      model.dispose();
    }
  });
}

test('CLI: itpn info itpn_base_classify_1000 --keys --json matches the official model', () => {
  const name = 'itpn_base_classify_1000';
  const r = spawnSync(process.execPath, [path.join(repoRoot, 'bin', 'itpn.js'), 'info', name, '--keys', '--json'], {
    cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 60_000,
  });
  assert.equal(r.status, 0, `itpn info exited ${r.status}: ${r.stderr}`);
  const out = JSON.parse(r.stdout) as { name: string; arch: string; task: string; params: number; tensors: number; keys: Record<string, number[]> };
  const ref = official[name];
  assert.equal(out.name, name);
  assert.equal(out.arch, 'itpn_base');
  assert.equal(out.task, 'classify');
  assert.equal(out.params, ref.params);
  assert.equal(out.tensors, Object.keys(ref.tensors).length);
  const problems = diffKeys(new Map(Object.entries(out.keys)), ref.tensors);
  assert.deepEqual(problems, [], `itpn info ${name} differs from the official state dict:\n  ${problems.join('\n  ')}`);
});
