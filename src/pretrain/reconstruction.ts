// What the model reconstructs: original | masked input | reconstruction | reconstruction with the visible
// patches pasted back, one row per image (pixel targets are per-patch normalised, so predictions are mapped back
// with each patch's own mean and variance, as MAE's visualisation does).
import { noGrad, tidy } from '../engine/scope';
import type { Tensor } from '../engine/tensor';
import { add, affine, mean, mul, reshape, slice, sqrt, variance } from '../ops';
import type { ITPNMaskedAutoencoder } from '../models/itpn/pixel_mim';
import { patchify, unpatchify } from '../models/itpn/pixel_mim';
import { writeImageGrid } from '../viz/image_grid';

export const GRID_COLUMNS = ['original', 'masked', 'reconstruction', 'reconstruction + visible'];

export function reconstructionCells(model: ITPNMaskedAutoencoder, images: Tensor, noise: Tensor): Float32Array[] {
  return noGrad(() => tidy(() => {
    const [B, , H, W] = images.shape;
    const out = model.forward(images, noise);
    const target = patchify(images);
    const mu = mean(target, -1, true);
    const sd = sqrt(affine(variance(target, -1, true, true), 1, 1e-6));
    const predPixels = add(mul(out.pred, sd), mu); // [B, N, 768]
    const m = reshape(out.masking.mask, [B, target.shape[1], 1]);
    const keep = affine(m, -1, 1);
    const masked = mul(target, keep); // masked patches at 0 = the ImageNet mean colour
    const pasted = add(mul(predPixels, m), masked);
    const cols = [images, unpatchify(masked, H, W), unpatchify(predPixels, H, W), unpatchify(pasted, H, W)];
    const cells: Float32Array[] = [];
    for (let b = 0; b < B; b++) for (const c of cols) cells.push(slice(c, 0, b, b + 1).toFloat32Array());
    return cells;
  }));
}

export async function writeReconstructionGrid(file: string, model: ITPNMaskedAutoencoder, images: Tensor, noise: Tensor): Promise<void> {
  const cells = reconstructionCells(model, images, noise);
  const [, , H, W] = images.shape;
  await writeImageGrid(file, cells, { channels: 3, height: H, width: W, cols: GRID_COLUMNS.length, labels: GRID_COLUMNS });
}
