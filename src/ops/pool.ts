// 2×2 pooling with stride 2 on NCHW maps (floor mode: an odd last row/column is dropped), as F.avg_pool2d /
// F.max_pool2d(kernel 2, stride 2) used for the extra pyramid levels.
import { Tensor } from '../engine/tensor';
import { reshape, slice } from './movement';
import { max, mean } from './reduce';

function pairs(x: Tensor): Tensor {
  const [B, C, H, W] = x.shape;
  const Ho = Math.floor(H / 2), Wo = Math.floor(W / 2);
  let t = x;
  if (H !== 2 * Ho) t = slice(t, 2, 0, 2 * Ho);
  if (W !== 2 * Wo) t = slice(t, 3, 0, 2 * Wo);
  return reshape(t, [B, C, Ho, 2, Wo, 2]);
}

export function avgPool2x2(x: Tensor): Tensor {
  return mean(pairs(x), [3, 5]);
}

export function maxPool2x2(x: Tensor): Tensor {
  return max(pairs(x), [3, 5]);
}
