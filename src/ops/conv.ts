// 2-D convolution as im2col + one GEMM (NCHW, torch.nn.Conv2d weight layout [Cout, Cin, kh, kw]).
import { contiguousStrides, fmtShape } from '../engine/shape';
import { record, Tensor } from '../engine/tensor';
import { zeros } from './creation';
import { linear } from './matmul';
import { pad, permute, reshape } from './movement';

/**
 * im2col: x [B, C, H, W] → [B, Ho, Wo, C·kh·kw], each row the receptive field of one output pixel in
 * (C, kh, kw) order, matching the flattened conv weight. One strided copy; the backward pass adds each
 * kernel offset separately so overlapping windows never write the same element concurrently.
 */
export function unfoldPatches(x: Tensor, kh: number, kw: number, stride: number): Tensor {
  const [B, C, H, W] = x.shape;
  const Ho = Math.floor((H - kh) / stride) + 1, Wo = Math.floor((W - kw) / stride) + 1;
  const [sB, sC, sH, sW] = contiguousStrides(x.shape);
  const shape = [B, Ho, Wo, C, kh, kw];
  const strides = [sB, sH * stride, sW * stride, sC, sH, sW];
  const out = Tensor.empty(x.backend, shape, x.dtype);
  x.backend.kernels.stridedCopy(x.storage, 0, strides, out.storage, shape);
  const result = out.view([B, Ho, Wo, C * kh * kw]);
  out.dispose();
  return record(result, 'unfoldPatches', [x], (g) => {
    const dx = zeros(x.backend, x.shape, x.dtype);
    const gStrides = contiguousStrides(shape);
    const part = Tensor.empty(x.backend, [B, Ho, Wo, C], x.dtype);
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        x.backend.kernels.stridedCopy(g.storage, i * gStrides[4] + j * gStrides[5], gStrides.slice(0, 4), part.storage, [B, Ho, Wo, C]);
        x.backend.kernels.stridedAccumulate(part.storage, dx.storage, i * sH + j * sW, strides.slice(0, 4), [B, Ho, Wo, C]);
      }
    }
    part.dispose();
    return [dx];
  });
}

export interface Conv2dOptions {
  stride?: number;
  padding?: number;
}

/** Returns NCHW, or NHWC when `channelsLast` (saves a permute when the next op wants tokens). */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null, opts: Conv2dOptions = {}, channelsLast = false): Tensor {
  const stride = opts.stride ?? 1, padding = opts.padding ?? 0;
  const [Cout, Cin, kh, kw] = weight.shape;
  if (x.rank !== 4 || x.shape[1] !== Cin) throw new Error(`conv2d: input ${fmtShape(x.shape)} for weight ${fmtShape(weight.shape)}`);
  const xp = padding > 0 ? pad(x, [[0, 0], [0, 0], [padding, padding], [padding, padding]]) : x;
  const cols = unfoldPatches(xp, kh, kw, stride); // [B, Ho, Wo, Cin·kh·kw]
  const y = linear(cols, reshape(weight, [Cout, Cin * kh * kw]), bias); // [B, Ho, Wo, Cout]
  return channelsLast ? y : permute(y, [0, 3, 1, 2]);
}
