// Basic layers with torch.nn parameter names: Linear, LayerNorm, Mlp (timm), Conv2d.
import type { Tensor } from '../engine/tensor';
import { gelu, layerNorm, linear, conv2d } from '../ops';
import { constParam, truncNormalParam, uniformFanInParam, type InitContext } from './init';
import { Module } from './module';

export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(ctx: InitContext, readonly inFeatures: number, readonly outFeatures: number, withBias = true) {
    super();
    // iTPN _init_weights: trunc_normal(0.02) weights, zero biases
    this.weight = truncNormalParam(ctx, [outFeatures, inFeatures], 0.02);
    this.bias = withBias ? constParam(ctx, [outFeatures], 0) : null;
  }
  /** x·Wᵀ + b, plus `residual` (shaped like the output) added in the same kernel when given. */
  forward(x: Tensor, residual: Tensor | null = null): Tensor {
    return linear(x, this.weight, this.bias, residual);
  }
}

export class LayerNorm extends Module {
  weight: Tensor | null;
  bias: Tensor | null;
  constructor(ctx: InitContext, readonly dim: number, readonly eps: number, affine = true) {
    super();
    this.weight = affine ? constParam(ctx, [dim], 1) : null;
    this.bias = affine ? constParam(ctx, [dim], 0) : null;
  }
  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

/** timm Mlp: fc1 → GELU → fc2 (dropout 0). */
export class Mlp extends Module {
  fc1: Linear;
  fc2: Linear;
  constructor(ctx: InitContext, dim: number, hidden: number) {
    super();
    this.fc1 = new Linear(ctx, dim, hidden);
    this.fc2 = new Linear(ctx, hidden, dim);
  }
  forward(x: Tensor): Tensor {
    return this.fc2.forward(gelu(this.fc1.forward(x)));
  }
}

export class Conv2d extends Module {
  weight: Tensor;
  bias: Tensor | null;
  constructor(ctx: InitContext, inC: number, outC: number, readonly kernel: number, readonly stride: number, withBias = true) {
    super();
    const fanIn = inC * kernel * kernel;
    this.weight = uniformFanInParam(ctx, [outC, inC, kernel, kernel], fanIn);
    this.bias = withBias ? uniformFanInParam(ctx, [outC], fanIn) : null;
  }
  /** Output NHWC when channelsLast (the token layout the models want), else NCHW. */
  forward(x: Tensor, channelsLast = false): Tensor {
    return conv2d(x, this.weight, this.bias, { stride: this.stride }, channelsLast);
  }
}
