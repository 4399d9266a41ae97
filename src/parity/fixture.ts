// Reading a fixture folder (the format of test/fixtures/README.md): config.json, weights, inputs, outputs.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSafetensors } from '../io/safetensors';
import type { RawTensor } from '../io/raw_tensor';

export const VARIANTS = ['pixel-pretrain', 'classify', 'clip-pretrain', 'clip-teacher', 'detection-backbone', 'segmentation-backbone'] as const;
export type Variant = (typeof VARIANTS)[number];

export interface Fixture {
  dir: string;
  variant: Variant;
  config: Record<string, unknown>;
  weights: Map<string, RawTensor>;
  inputs: Map<string, RawTensor>;
  outputs: Map<string, RawTensor>;
}

export function readFixture(dir: string): Fixture {
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) throw new Error(`fixture folder not found: ${dir}`);
  for (const f of ['config.json', 'weights.safetensors', 'inputs.safetensors', 'outputs.safetensors']) {
    if (!fs.existsSync(path.join(dir, f))) throw new Error(`fixture ${dir} lacks ${f}`);
  }
  const config = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')) as Record<string, unknown>;
  const variant = config.variant as Variant;
  if (!VARIANTS.includes(variant)) throw new Error(`fixture ${dir}: unknown variant ${JSON.stringify(config.variant)} (known: ${VARIANTS.join(', ')})`);
  return {
    dir,
    variant,
    config,
    weights: readSafetensors(path.join(dir, 'weights.safetensors')).tensors,
    inputs: readSafetensors(path.join(dir, 'inputs.safetensors')).tensors,
    outputs: readSafetensors(path.join(dir, 'outputs.safetensors')).tensors,
  };
}
