// Parameter initialisation as the official code does it (timm trunc_normal_, torch defaults), from an explicit Rng.
import type { Backend } from '../engine/backend';
import type { Rng } from '../engine/random';
import { sizeOf, type Shape } from '../engine/shape';
import { Tensor } from '../engine/tensor';
import { parameter, tensor } from '../ops';

export interface InitContext {
  backend: Backend;
  rng: Rng;
  /** Allocate zeros without drawing values (inspecting or about to load a checkpoint): fast for big models. */
  shapeOnly?: boolean;
}

function param(ctx: InitContext, shape: Shape, fill: (a: Float32Array) => void): Tensor {
  const a = new Float32Array(sizeOf(shape));
  if (!ctx.shapeOnly) fill(a);
  return parameter(tensor(ctx.backend, a, shape));
}

/** trunc_normal_(std) with absolute bounds ±2 (timm default), i.e. effectively a plain normal for small std. */
export function truncNormalParam(ctx: InitContext, shape: Shape, std = 0.02): Tensor {
  return param(ctx, shape, (a) => ctx.rng.fillTruncNormal(a, 0, std, -2, 2));
}

export function normalParam(ctx: InitContext, shape: Shape, std: number): Tensor {
  return param(ctx, shape, (a) => ctx.rng.fillNormal(a, 0, std));
}

export function constParam(ctx: InitContext, shape: Shape, value: number): Tensor {
  return param(ctx, shape, (a) => a.fill(value));
}

/** torch's default Conv2d/Linear init: kaiming_uniform(a=√5) = U(±1/√fan_in) for weight and bias. */
export function uniformFanInParam(ctx: InitContext, shape: Shape, fanIn: number): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
  return param(ctx, shape, (a) => ctx.rng.fillUniform(a, -bound, bound));
}
