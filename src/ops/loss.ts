// Losses used by iTPN pre-training and fine-tuning, composed from primitives (their gradients come for free).
import { fmtShape } from '../engine/shape';
import { Tensor } from '../engine/tensor';
import { logSoftmax } from './activation';
import { abs, add, affine, compare, div, maximum, mul, sqrt, sub, where } from './elementwise';
import { full } from './creation';
import { take } from './indexing';
import { reshape } from './movement';
import { mean, sum } from './reduce';

/** Mean squared error over all elements. */
export function mseLoss(pred: Tensor, target: Tensor): Tensor {
  const d = sub(pred, target);
  return mean(mul(d, d));
}

/** torch.nn.SmoothL1Loss(beta, reduction='mean'): 0.5·d²/β where |d| < β, else |d| − 0.5·β. */
export function smoothL1Loss(pred: Tensor, target: Tensor, beta = 1): Tensor {
  const d = sub(pred, target);
  const ad = abs(d);
  const quadratic = affine(mul(d, d), 0.5 / beta, 0);
  const linearPart = affine(ad, 1, -0.5 * beta);
  const inside = compare('lt', ad, full(d.backend, [], beta, d.dtype));
  return mean(where(inside, quadratic, linearPart));
}

/**
 * Cross-entropy of logits [R, C] against integer labels [R] (mean over rows), with optional label smoothing
 * ε: (1−ε)·NLL + ε·mean over classes of −log p (torch.nn.CrossEntropyLoss(label_smoothing=ε)).
 */
export function crossEntropy(logits: Tensor, labels: Tensor, labelSmoothing = 0): Tensor {
  if (logits.rank !== 2 || labels.rank !== 1 || labels.shape[0] !== logits.shape[0]) {
    throw new Error(`crossEntropy: logits ${fmtShape(logits.shape)} and labels ${fmtShape(labels.shape)}`);
  }
  const logp = logSoftmax(logits);
  const picked = take(logp, reshape(labels, [labels.shape[0], 1]), 1); // [R, 1]
  const nll = affine(mean(picked), -1, 0);
  if (labelSmoothing === 0) return nll;
  const smooth = affine(mean(logp), -1, 0);
  return add(affine(nll, 1 - labelSmoothing, 0), affine(smooth, labelSmoothing, 0));
}

/** Cross-entropy against soft targets [R, C] (mixup/cutmix): mean over rows of Σ −t·log p. */
export function softTargetCrossEntropy(logits: Tensor, targets: Tensor): Tensor {
  const logp = logSoftmax(logits);
  return affine(mean(sum(mul(targets, logp), -1)), -1, 0);
}

/** Cosine similarity along the last axis: a·b / max(‖a‖·‖b‖, eps). */
export function cosineSimilarity(a: Tensor, b: Tensor, eps = 1e-8): Tensor {
  const dot = sum(mul(a, b), -1);
  const na = sum(mul(a, a), -1), nb = sum(mul(b, b), -1);
  const denom = sqrt(maximum(mul(na, nb), full(a.backend, [], eps * eps, a.dtype)));
  return div(dot, denom);
}
