// An on-disk cache of teacher features, one safetensors file per batch. The loader draws every crop and flip from
// (seed, epoch, position) in the main thread, so a batch's views are fixed by the run's data settings, the epoch
// and the batch index; the key hashes those together with the teacher's identity (file, size, mtime, input
// scaling, taps), and the file records the batch's image paths, checked on every hit. Within one run a key
// repeats only when epochs are replayed (`--teacher-cache-epochs K` cycles the augmentation of epochs 0 … K−1);
// across runs with the same seed and data (learning-rate sweeps, restarts) every batch hits.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Backend } from '../engine/backend';
import { tensor } from '../ops';
import { readSafetensors, writeSafetensors } from '../io/safetensors';
import type { RawTensor } from '../io/raw_tensor';
import type { TeacherFeatures } from './teacher';

export class TeacherCache {
  hits = 0;
  misses = 0;

  /** `identity`: everything besides epoch and batch that decides the features (teacher, scaling, taps, data settings). */
  constructor(readonly dir: string, readonly identity: Record<string, unknown>) {
    fs.mkdirSync(dir, { recursive: true });
  }

  private file(epoch: number, batch: number): string {
    const key = createHash('sha1').update(JSON.stringify({ ...this.identity, epoch, batch })).digest('hex').slice(0, 24);
    return path.join(this.dir, `${key}.safetensors`);
  }

  get(backend: Backend, epoch: number, batch: number, paths: string[]): TeacherFeatures | null {
    const f = this.file(epoch, batch);
    if (!fs.existsSync(f)) {
      this.misses++;
      return null;
    }
    const { tensors, metadata } = readSafetensors(f);
    if (metadata?.paths !== JSON.stringify(paths)) throw new Error(`teacher cache ${f} was written for other images (the data folder changed?); remove ${this.dir}`);
    const toTensor = (r: RawTensor) => tensor(backend, r.data as Float32Array, r.shape);
    const taps = new Map<number, ReturnType<typeof toTensor>>();
    for (const [name, r] of tensors) if (name.startsWith('tap.')) taps.set(Number(name.slice(4)), toTensor(r));
    this.hits++;
    return { final: toTensor(tensors.get('final')!), taps };
  }

  put(epoch: number, batch: number, paths: string[], feats: TeacherFeatures): void {
    const entries = new Map<string, RawTensor>([['final', { dtype: 'F32', shape: feats.final.shape, data: feats.final.toFloat32Array() }]]);
    for (const [k, t] of feats.taps) entries.set(`tap.${k}`, { dtype: 'F32', shape: t.shape, data: t.toFloat32Array() });
    writeSafetensors(this.file(epoch, batch), entries, { paths: JSON.stringify(paths) });
  }
}
