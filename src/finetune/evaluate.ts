// Classification evaluation (MAE engine_finetune.py: evaluate): eval-mode forward over a loader with the eval
// transform (shorter side to img/0.875, centre crop), cross-entropy without smoothing, top-1 and top-5, and the
// per-class counts and confusion matrix the `eval` command reports.
import type { Backend } from '../engine/backend';
import { noGradAsync, tidy } from '../engine/scope';
import { crossEntropy, tensor } from '../ops';
import type { BatchLoader } from '../data/loader';
import type { ITPNClassifier } from '../models/itpn/classifier';

export interface EvalResult {
  count: number;
  loss: number;
  top1: number;
  top5: number;
  /** Row = true class, column = predicted class. */
  confusion: number[][];
  /** Accuracy per true class (NaN for a class without images). */
  perClass: number[];
}

/** Rank of the true class among the logits of one row (0 = predicted). */
export function rankOf(logits: ArrayLike<number>, offset: number, K: number, label: number): number {
  const v = logits[offset + label];
  let rank = 0;
  for (let k = 0; k < K; k++) {
    const u = logits[offset + k];
    if (u > v || (u === v && k < label)) rank++;
  }
  return rank;
}

export async function evaluate(model: ITPNClassifier, loader: BatchLoader, backend: Backend, numClasses: number,
  onBatch?: (done: number) => void): Promise<EvalResult> {
  const wasTraining = model.training;
  model.eval();
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  let count = 0, lossSum = 0, top1 = 0, top5 = 0;
  try {
    await noGradAsync(async () => {
      for await (const batch of loader.epoch(0)) {
        const B = batch.batchSize, S = loader.imgSize;
        const { logits, loss } = tidy(() => {
          const out = model.forward(tensor(backend, batch.images, [B, 3, S, S]));
          const l = crossEntropy(out, tensor(backend, batch.labels, [B], 'int32'));
          return { logits: out.toArray(), loss: l.item() };
        });
        for (let i = 0; i < B; i++) {
          const label = batch.labels[i];
          const rank = rankOf(logits, i * numClasses, numClasses, label);
          let pred = 0;
          for (let k = 1; k < numClasses; k++) if (logits[i * numClasses + k] > logits[i * numClasses + pred]) pred = k;
          confusion[label][pred]++;
          if (rank === 0) top1++;
          if (rank < 5) top5++;
        }
        lossSum += loss * B;
        count += B;
        onBatch?.(count);
      }
    });
  } finally {
    model.train(wasTraining);
  }
  const perClass = confusion.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total > 0 ? row[c] / total : NaN;
  });
  return { count, loss: lossSum / Math.max(1, count), top1: top1 / Math.max(1, count), top5: top5 / Math.max(1, count), confusion, perClass };
}
