// Loading a state dict (name → RawTensor from safetensors or .pth) into a model: strict by default, a shape
// mismatch is always an error naming the key and both shapes, and a non-strict load reports what it skipped.
import { fmtShape, shapesEqual } from '../engine/shape';
import type { Tensor } from '../engine/tensor';
import { toF32, toI32, type RawTensor } from '../io/raw_tensor';
import type { Module } from '../nn/module';

export interface LoadReport {
  loaded: string[];
  missing: string[];
  unexpected: string[];
}

export function loadStateDict(model: Module, sd: Map<string, RawTensor>, opts: { strict?: boolean; source?: string } = {}): LoadReport {
  const strict = opts.strict ?? true;
  const own = model.stateDict();
  const report: LoadReport = { loaded: [], missing: [], unexpected: [] };
  const mismatches: string[] = [];
  for (const [name, raw] of sd) {
    const t = own.get(name);
    if (!t) {
      report.unexpected.push(name);
      continue;
    }
    if (!shapesEqual(raw.shape, t.shape)) mismatches.push(`${name}: checkpoint ${fmtShape(raw.shape)} vs model ${fmtShape(t.shape)}`);
  }
  for (const name of own.keys()) if (!sd.has(name)) report.missing.push(name);
  const where = opts.source ? ` (${opts.source})` : '';
  if (mismatches.length > 0) throw new Error(`shape mismatch loading checkpoint${where}:\n  ${mismatches.join('\n  ')}`);
  if (strict && (report.missing.length > 0 || report.unexpected.length > 0)) {
    throw new Error(`checkpoint${where} does not match the model:\n` +
      (report.missing.length ? `  missing keys (${report.missing.length}): ${report.missing.slice(0, 20).join(', ')}${report.missing.length > 20 ? ', …' : ''}\n` : '') +
      (report.unexpected.length ? `  unexpected keys (${report.unexpected.length}): ${report.unexpected.slice(0, 20).join(', ')}${report.unexpected.length > 20 ? ', …' : ''}` : ''));
  }
  for (const [name, raw] of sd) {
    const t = own.get(name);
    if (!t) continue;
    assignRaw(t, raw);
    report.loaded.push(name);
  }
  return report;
}

export function assignRaw(t: Tensor, raw: RawTensor): void {
  if (t.dtype === 'int32') t.assign(toI32(raw));
  else if (t.dtype === 'float32') t.assign(toF32(raw));
  else t.assign(Float64Array.from(toF32(raw)));
}

/** The model's state dict as RawTensors (float32 as F32, int32 buffers as I64 as the official code stores them). */
export function exportStateDict(model: Module): Map<string, RawTensor> {
  const out = new Map<string, RawTensor>();
  for (const [name, t] of model.stateDict()) {
    const data = t.toArray();
    out.set(name, t.dtype === 'int32' ? { dtype: 'I64', shape: t.shape, data } : { dtype: 'F32', shape: t.shape, data: data instanceof Float32Array ? data : Float32Array.from(data) });
  }
  return out;
}
