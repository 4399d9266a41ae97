// Multi-head self-attention as one fused primitive, read straight from the qkv Linear's output. The composite
// (permute the qkv projection to [3, B, H, N, D], slice q/k/v, scale, q·kᵀ, add the bias, softmax, ·v, permute
// back) materialises five copies of the activations and its backward three zero-filled scatters; this op keeps
// only the softmax probabilities for the backward pass and writes the gradient of qkv in one pass.
import type { AttentionAttrs } from '../engine/backend';
import { fmtShape } from '../engine/shape';
import { isGradEnabled } from '../engine/scope';
import { record, Tensor } from '../engine/tensor';
import { sumToShape } from './reduce';

/**
 * qkv [B, N, 3·C] laid out as [B, N, 3, heads, C/heads] (torch: qkv(x).reshape(B, N, 3, H, D)); bias, when given,
 * is added to the scaled logits and is [1 or B, heads, N, N]. Returns softmax(scale·q·kᵀ + bias)·v as [B, N, C],
 * heads side by side (torch: (attn @ v).transpose(1, 2).reshape(B, N, C)).
 */
export function attention(qkv: Tensor, heads: number, scale: number, bias: Tensor | null = null): Tensor {
  const [B, N, C3] = qkv.shape;
  const C = C3 / 3, D = C / heads;
  if (qkv.rank !== 3 || !Number.isInteger(D)) throw new Error(`attention: qkv ${fmtShape(qkv.shape)} is not [B, N, 3·heads·D] for ${heads} heads`);
  const biasBatch = bias ? bias.shape[0] : 0;
  if (bias && (bias.rank !== 4 || (biasBatch !== 1 && biasBatch !== B) || bias.shape[1] !== heads || bias.shape[2] !== N || bias.shape[3] !== N)) {
    throw new Error(`attention: bias ${fmtShape(bias.shape)} is not [1 or ${B}, ${heads}, ${N}, ${N}]`);
  }
  const attrs: AttentionAttrs = { B, N, H: heads, D, scale, biasBatch };
  const be = qkv.backend;
  const out = Tensor.empty(be, [B, N, C], qkv.dtype);
  const inputs = bias ? [qkv, bias] : [qkv];
  if (!isGradEnabled() || !inputs.some((t) => t.requiresGrad)) {
    // nothing to differentiate: the probabilities stay in the kernel's per-thread scratch
    be.kernels.attention(qkv.storage, bias?.storage ?? null, out.storage, null, attrs);
    return out;
  }
  const probs = Tensor.empty(be, [B, heads, N, N], qkv.dtype);
  be.kernels.attention(qkv.storage, bias?.storage ?? null, out.storage, probs.storage, attrs);
  const y = record(out, 'attention', inputs, (g) => {
    const dqkv = Tensor.empty(be, qkv.shape, qkv.dtype);
    const wantBias = !!bias?.requiresGrad;
    const dlogits = wantBias ? Tensor.empty(be, [B, heads, N, N], qkv.dtype) : null;
    be.kernels.attentionBackward(qkv.storage, probs.storage, g.storage, dqkv.storage, dlogits?.storage ?? null, attrs);
    return wantBias ? [dqkv, sumToShape(dlogits!, bias!.shape)] : [dqkv];
  });
  if (!y.node) probs.dispose();
  return y;
}
