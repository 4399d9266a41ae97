// The itpn library: what `import ... from 'itpn'` gives a TypeScript or JavaScript program. The CLI (src/cli/) is
// built from these same pieces; README.md ("From TypeScript") shows them together. Deeper modules stay importable
// by path (itpn/dist/src/...), but only what is listed here is the supported surface.

// Backends: where tensors live and kernels run.
export type { Backend, GemmPrecision } from './engine/backend';
export { createCpuBackend, getCpuThreads, setCpuGemmPrecision, setCpuThreads, type CpuBackendOptions } from './backends/cpu/cpu_backend';
export { createReferenceBackend } from './backends/reference/reference_backend';

// Engine: tensors, autograd, memory scopes, the seeded RNG; `ops` is the whole op vocabulary (add, matmul, softmax, …).
export { Tensor } from './engine/tensor';
export { backward } from './engine/autograd';
export { keep, noGrad, noGradAsync, tidy, tidyAsync } from './engine/scope';
export { Rng } from './engine/random';
export * as ops from './ops';
export { tensor } from './ops';

// Models, with the official parameter names.
export { ARCHS, type ArchName, type ITPNConfig } from './models/itpn/configs';
export { buildModel, forwardMacs, taskConfig, TASKS, type ITPNModel, type Task } from './models/itpn/factory';
export { ITPNBackbone, levelToNCHW, type Features } from './models/itpn/backbone';
export { ITPNMaskedAutoencoder, maskingNoise, patchify, unpatchify, type PixelOutputs } from './models/itpn/pixel_mim';
export { ITPNClassifier } from './models/itpn/classifier';
export { ITPNClipDistill, type ClipOutputs } from './models/itpn/clip_distill';
export { ITPNDenseBackbone, type DenseKind } from './models/itpn/dense';
export { exportStateDict, loadStateDict, type LoadReport } from './models/load_state_dict';

// Weight files: safetensors and official PyTorch .pth (read directly, nothing in them is executed).
export { readSafetensors, writeSafetensors } from './io/safetensors';
export { readPth, readPthStateDict } from './io/pth';
export type { RawTensor } from './io/raw_tensor';

// Using trained weights: classifiers, pyramid features, images in the evaluation preprocessing.
export { loadClassifier, type LoadedClassifier } from './finetune/model';
export { computeFeatures, loadFeatureModel, PYRAMID_STRIDES, randomFeatureModel, type FeatureModel, type FeatureOptions } from './finetune/features';
export { decodeImageFiles, stackImages, type DecodedImage, type DecodeFailure } from './finetune/images';

// Training runs, as the `pretrain` and `finetune` commands run them (checkpoints, logs, resume).
export { pretrain, type PretrainOptions, type PretrainSummary } from './pretrain/run';
export { finetune, type FinetuneOptions, type FinetuneSummary } from './finetune/run';
export { loadPixelModel, type PixelModel } from './pretrain/pixel_model';
export { writeReconstructionGrid } from './pretrain/reconstruction';
