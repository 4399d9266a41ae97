// The `itpn` command line: one module per command, parsed here with commander.
import { Command } from 'commander';
import { parityCommand } from './parity';
import { infoCommand } from './info';
import { convertCommand } from './convert';
import { pretrainCommand } from './pretrain';
import { finetuneCommand } from './finetune';
import { evalCommand } from './eval';
import { predictCommand } from './predict';
import { featuresCommand } from './features';
import { probeCommand } from './probe';
import { reconstructCommand } from './reconstruct';
import { benchInferCommand, benchTrainCommand } from './bench';
import { benchGemmCommand, benchOpsCommand } from './bench_kernels';
import { fraction, nonNegativeInt, nonNegativeNumber, positiveInt } from './arg_parsers';
import { setCliPrecision } from './backend_choice';
import { DEFAULT_DECODE_CACHE_MIB } from '../data/loader';

function run(fn: () => number | Promise<number>): void {
  Promise.resolve()
    .then(fn)
    .then((code) => process.exit(code))
    .catch((e: Error) => {
      console.error(`itpn: ${e.message}`);
      if (process.env.ITPN_DEBUG) console.error(e.stack);
      process.exit(2);
    });
}

export function main(argv: string[]): void {
  const program = new Command();
  program.name('itpn').description('iTPN: integrally pre-trained transformer pyramid networks, in TypeScript').showHelpAfterError('(add --help for the options)');
  program.option('--precision <p>', 'GEMM precision on the cpu backend, before or after the command: float32, or bf16 ' +
    '(inputs of the large products rounded to bfloat16 for AMX/AVX512-BF16, float32 accumulation and everything else float32)');
  program.hook('preAction', () => {
    const p = program.opts().precision as string | undefined;
    if (p === undefined) return;
    try {
      setCliPrecision(p);
    } catch (e) {
      program.error(`error: ${(e as Error).message}`);
    }
  });

  program.command('parity')
    .description('check the models against a fixture folder of the official implementation (forward, loss, backward)')
    .argument('<fixture-dirs...>', 'folders in the fixture format (config.json, weights/inputs/outputs.safetensors)')
    .option('--backend <name>', 'cpu or reference', 'cpu')
    .option('--json', 'one JSON report per fixture', false)
    .option('-v, --verbose', 'list every tensor, not only failures', false)
    .action((dirs: string[], o) => run(() => parityCommand(dirs, { backend: o.backend, json: o.json, verbose: o.verbose })));

  program.command('info')
    .description('parameter count, forward GMACs and state-dict keys of an architecture')
    .argument('<arch>', 'itpn_tiny | itpn_small | itpn_base | itpn_large | itpn_large_256, or a combined name like itpn_base_pixel_pretrain')
    .option('--task <task>', 'pixel | clip | classify | detection | segmentation')
    .option('--img-size <n>', 'input size', positiveInt)
    .option('--num-classes <n>', 'classifier classes', positiveInt)
    .option('--teacher-dim <n>', 'CLIP target dimension', positiveInt)
    .option('--keys', 'list every state-dict key and shape', false)
    .option('--json', 'JSON output', false)
    .action((arch: string, o) => run(() => infoCommand(arch, o)));

  program.command('convert')
    .description('convert a PyTorch .pth/.pt checkpoint (torch.save zip format) to safetensors with the same keys')
    .argument('<in>', 'input .pth')
    .argument('<out>', 'output .safetensors')
    .action((i: string, out: string) => run(() => convertCommand(i, out)));

  program.command('pretrain')
    .description('pre-train an iTPN on a folder of images: pixel reconstruction (random 75% masking) or CLIP feature distillation (block masking), optionally with per-level MFM')
    .option('--data <dir>', 'image folder (class sub-folders or flat; jpg/png/webp)', 'data/imagenette-mini/train')
    .option('--arch <name>', 'itpn_tiny | itpn_small | itpn_base | itpn_large', 'itpn_tiny')
    .option('--variant <v>', 'pixel | clip (clip needs --teacher)', 'pixel')
    .option('--img-size <n>', 'input size, a multiple of 16', positiveInt, 112)
    .option('--batch <n>', 'images per step (per micro-batch with --accum-iter)', positiveInt, 32)
    .option('--accum-iter <n>', 'gradient accumulation micro-batches per step', positiveInt, 1)
    .option('--steps <n>', 'optimizer steps', positiveInt, 200)
    .option('--epochs <n>', 'train for N epochs instead of --steps', positiveInt)
    .option('--blr <x>', 'base lr per 256 images (lr = blr × batch × accum / 256); default 1.5e-3 for both variants, 10× the official rates (pixel blr 1.5e-4; CLIP 1.5e-3 absolute at batch 2048 = blr 1.875e-4) because short small runs want more', nonNegativeNumber)
    .option('--lr <x>', 'absolute lr (overrides --blr)', nonNegativeNumber)
    .option('--min-lr <x>', 'final lr of the cosine', nonNegativeNumber, 0)
    .option('--warmup-steps <n>', 'linear warmup steps (default: 10% of --steps)', nonNegativeInt)
    .option('--weight-decay <x>', 'AdamW weight decay', nonNegativeNumber, 0.05)
    .option('--betas <b1,b2>', 'AdamW betas (default 0.9,0.95 pixel; 0.9,0.98 clip)')
    .option('--clip-grad <x>', 'clip the global gradient norm (default: off for pixel, 3.0 for clip)', nonNegativeNumber)
    .option('--drop-path <x>', 'stochastic depth rate (default 0 pixel, 0.1 clip)', fraction)
    .option('--color-jitter <x>', 'brightness, contrast and saturation jitter before the crop (default 0.4 clip, as the official; 0 pixel)', nonNegativeNumber)
    .option('--mask-ratio <x>', 'pixel: fraction of tokens removed', fraction, 0.75)
    .option('--mask-patches <n>', 'clip: patches masked per image (default round(75/196 × tokens))', positiveInt)
    .option('--min-mask-patches <n>', 'clip: smallest masking block (default max(1, round(16/196 × tokens)))', positiveInt)
    .option('--teacher <path>', 'CLIP weights (OpenAI .pt/.pth/.safetensors, or HF CLIPVisionModelWithProjection .safetensors) or, for --mfm, an itpn run/checkpoint')
    .option('--teacher-arch <name>', 'ViT-B/16 | ViT-L/14 (checked against the weights); for an itpn teacher without config.json its architecture')
    .option('--teacher-input <mode>', 'clip (undo ImageNet normalisation, apply CLIP mean/std) | official (the released code\'s ((x+1)·127.5).clamp(0,255)/255 quirk, then CLIP mean/std)', 'clip')
    .option('--teacher-heads <n>', 'CLIP attention heads if not width/64', positiveInt)
    .option('--mfm', 'add masked feature modeling: a head per pyramid level regressing teacher features on masked positions', false)
    .option('--mfm-weights <w16,w8,w4>', 'MFM loss weight per level (stride 16, 8, 4)', '1,1,1')
    .option('--mfm-layers <l16,l8,l4>', 'teacher features per level: "final" or a block count k (the hidden state after k teacher blocks)', 'final,final,final')
    .option('--mfm-loss <kind>', 'smooth_l1 | mse', 'smooth_l1')
    .option('--cache-teacher [dir]', 'store teacher features on disk (default <out>/teacher-cache), keyed by seed, epoch and batch')
    .option('--teacher-cache-epochs <k>', 'with --cache-teacher: replay the augmentation of epochs 0…k−1, so cached features are reused', positiveInt)
    .option('--seed <n>', 'seed of every random choice', nonNegativeInt, 0)
    .option('--out <dir>', 'output folder', 'runs/pretrain')
    .option('--resume', 'continue from the checkpoint in --out', false)
    .option('--stop-at <n>', 'stop after step N (checkpointed) and continue later with --resume', nonNegativeInt)
    .option('--backend <name>', 'cpu or reference', 'cpu')
    .option('--threads <n>', 'compute threads', positiveInt)
    .option('--workers <n>', 'image decode workers', positiveInt)
    .option('--decode-cache <MiB>', 'decoded images kept in memory between epochs (0: off)', nonNegativeInt, DEFAULT_DECODE_CACHE_MIB)
    .option('--viz-every <n>', 'pixel: write a reconstruction grid every N steps (0: only at the end)', nonNegativeInt, 50)
    .option('--save-every <n>', 'checkpoint every N steps (0: only at the end)', nonNegativeInt, 50)
    .action((o) => run(() => pretrainCommand(o)));

  program.command('finetune')
    .description('fine-tune a classifier (official iTPN recipe: layer decay, mixup/cutmix, RandAugment, random erasing, drop path) from a pre-training checkpoint, an official .pth or scratch')
    .option('--from <weights>', 'pre-training checkpoint (run or checkpoint folder, model.safetensors), official .pth, or "scratch"')
    .option('--data <dir>', 'training image folder, one sub-folder per class', 'data/imagenette-mini/train')
    .option('--val <dir>', 'validation folder with the same class folders (default: "val" beside --data)')
    .option('--arch <name>', 'itpn_tiny | itpn_small | itpn_base | itpn_large', 'itpn_tiny')
    .option('--img-size <n>', 'input size, a multiple of 16', positiveInt, 112)
    .option('--epochs <n>', 'training epochs (evaluation after each)', positiveInt, 10)
    .option('--warmup-epochs <n>', 'linear lr warmup, in epochs', nonNegativeNumber, 1)
    .option('--batch <n>', 'images per step (even, for mixup)', positiveInt, 32)
    .option('--blr <x>', 'base lr per 256 images (lr = blr × batch / 256); official pixel-B 4e-4', nonNegativeNumber, 4e-4)
    .option('--lr <x>', 'absolute lr (overrides --blr)', nonNegativeNumber)
    .option('--min-lr <x>', 'final lr of the cosine', nonNegativeNumber, 1e-6)
    .option('--weight-decay <x>', 'AdamW weight decay (not on 1-D params, biases, position tables)', nonNegativeNumber, 0.05)
    .option('--layer-decay <x>', 'nominal layer-wise lr decay of a 12-layer ViT, re-normalised to the depth (1: off)', nonNegativeNumber, 0.6)
    .option('--drop-path <x>', 'stochastic depth rate', fraction, 0.1)
    .option('--mixup <x>', 'mixup alpha (0: off)', nonNegativeNumber, 0.8)
    .option('--cutmix <x>', 'cutmix alpha (0: off)', nonNegativeNumber, 1.0)
    .option('--mixup-prob <x>', 'probability of mixing a batch', fraction, 1.0)
    .option('--mixup-switch-prob <x>', 'probability of cutmix instead of mixup', fraction, 0.5)
    .option('--smoothing <x>', 'label smoothing', fraction, 0.1)
    .option('--aa <spec>', 'RandAugment (timm spec) or "none"', 'rand-m9-mstd0.5-inc1')
    .option('--reprob <x>', 'random erasing probability', fraction, 0.25)
    .option('--clip-grad <x>', 'clip the global gradient norm', nonNegativeNumber)
    .option('--seed <n>', 'seed of every random choice', nonNegativeInt, 0)
    .option('--out <dir>', 'output folder', 'runs/finetune')
    .option('--resume', 'continue from the checkpoint in --out', false)
    .option('--stop-at <n>', 'stop after step N (checkpointed) and continue later with --resume', nonNegativeInt)
    .option('--backend <name>', 'cpu or reference', 'cpu')
    .option('--threads <n>', 'compute threads', positiveInt)
    .option('--workers <n>', 'image decode workers', positiveInt)
    .option('--decode-cache <MiB>', 'decoded images kept in memory between epochs (0: off)', nonNegativeInt, DEFAULT_DECODE_CACHE_MIB)
    .option('--print-param-groups', 'print every parameter with its layer id, lr scale and weight decay, then exit (needs only --arch)', false)
    .option('--num-classes <n>', 'classes for --print-param-groups', positiveInt, 1000)
    .option('--json', 'with --print-param-groups: one JSON object per line', false)
    .action((o) => run(() => finetuneCommand(o)));

  program.command('eval')
    .description('top-1, top-5, per-class accuracy and a confusion matrix of a fine-tuned classifier on an image folder')
    .requiredOption('--checkpoint <path>', 'fine-tuning run folder, its best/ or checkpoint/ folder, or a model.safetensors')
    .requiredOption('--data <dir>', 'image folder with the checkpoint\'s class sub-folders')
    .option('--out <dir>', 'where confusion_matrix.png and metrics.json go (default: <run>/eval)')
    .option('--batch <n>', 'images per forward pass', positiveInt, 32)
    .option('--arch <name>', 'architecture for a checkpoint without itpn metadata')
    .option('--json', 'print the metrics as one JSON object', false)
    .option('--backend <name>', 'cpu or reference', 'cpu')
    .option('--threads <n>', 'compute threads', positiveInt)
    .option('--workers <n>', 'image decode workers', positiveInt)
    .action((o) => run(() => evalCommand(o)));

  program.command('predict')
    .description('top-5 classes with probabilities for each image, from a fine-tuned classifier')
    .argument('<images...>', 'image files (jpg/png/webp/...)')
    .requiredOption('--checkpoint <path>', 'fine-tuning run folder, its best/ or checkpoint/ folder, or a model.safetensors')
    .option('--topk <n>', 'classes per image', positiveInt, 5)
    .option('--batch <n>', 'images per forward pass', positiveInt, 16)
    .option('--arch <name>', 'architecture for a checkpoint without itpn metadata')
    .option('--classes-from <dir>', 'for weights without a class list (official .pth): a folder whose sorted class sub-folders are the labels, names from its classes.tsv')
    .option('--json', 'one JSON object per image', false)
    .option('--backend <name>', 'cpu or reference', 'cpu')
    .option('--threads <n>', 'compute threads', positiveInt)
    .action((images: string[], o) => run(() => predictCommand(images, o)));

  program.command('reconstruct')
    .description('what a pixel pre-training checkpoint reconstructs of images under a seeded random mask: one picture (original | masked | reconstruction | reconstruction + visible) and the masked-patch loss')
    .argument('<images...>', 'image files')
    .requiredOption('--checkpoint <path>', 'pixel pre-training run, its model.safetensors, or an official iTPN pixel .pth (with --arch)')
    .option('--out <file>', 'output PNG', 'reconstruction.png')
    .option('--arch <name>', 'architecture (needed for files without a config, e.g. official .pth)')
    .option('--mask-ratio <x>', 'fraction of patches masked (default: the checkpoint\'s, 0.75)', fraction)
    .option('--seed <n>', 'seed of the random masks', nonNegativeInt, 0)
    .option('--backend <name>', 'cpu or reference', 'cpu')
    .option('--threads <n>', 'compute threads', positiveInt)
    .action((images: string[], o) => run(() => reconstructCommand(images, o)));

  program.command('features')
    .description('pooled embedding and (pre-training checkpoints) pyramid maps at strides 4-64 for images, to a safetensors file')
    .argument('<images...>', 'image files')
    .requiredOption('--checkpoint <path>', 'pre-training or fine-tuning checkpoint (folder, model.safetensors or official .pth)')
    .requiredOption('--out <file>', 'output .safetensors')
    .option('--arch <name>', 'architecture (needed for files without a config, e.g. official .pth)')
    .option('--img-size <n>', 'input size (default: the checkpoint\'s)', positiveInt)
    .option('--batch <n>', 'images per forward pass', positiveInt, 16)
    .option('--no-pyramid', 'only the pooled embedding (the pyramid maps are hundreds to thousands of times larger per image)')
    .option('--backend <name>', 'cpu or reference', 'cpu')
    .option('--threads <n>', 'compute threads', positiveInt)
    .action((images: string[], o) => run(() => featuresCommand(images, o)));

  program.command('probe')
    .description('linear probe on frozen, cached, standardised pooled features (pre-trained or random weights)')
    .option('--from <weights>', 'checkpoint to probe, or "scratch" for random weights')
    .option('--data <dir>', 'training image folder, one sub-folder per class', 'data/imagenette-mini/train')
    .option('--val <dir>', 'validation folder (default: "val" beside --data)')
    .option('--arch <name>', 'architecture (scratch: default itpn_tiny; files without a config)')
    .option('--img-size <n>', 'input size (default: the checkpoint\'s; scratch 112)', positiveInt)
    .option('--epochs <n>', 'epochs of the linear head', positiveInt, 100)
    .option('--warmup-epochs <n>', 'lr warmup epochs', nonNegativeInt, 10)
    .option('--lr <x>', 'AdamW lr of the head', nonNegativeNumber, 1e-3)
    .option('--weight-decay <x>', 'AdamW weight decay of the head', nonNegativeNumber, 0)
    .option('--batch <n>', 'features per head step', positiveInt, 256)
    .option('--feature-batch <n>', 'images per forward pass when extracting features', positiveInt, 32)
    .option('--seed <n>', 'seed (head init, order; random weights)', nonNegativeInt, 0)
    .option('--out <dir>', 'output folder (feature cache, log, result)', 'runs/probe')
    .option('--json', 'print the result as one JSON object', false)
    .option('--backend <name>', 'cpu or reference', 'cpu')
    .option('--threads <n>', 'compute threads', positiveInt)
    .option('--workers <n>', 'image decode workers', positiveInt)
    .action((o) => run(() => probeCommand(o)));

  const bench = program.command('bench').description('benchmarks, side by side with the PyTorch reference');
  for (const [name, desc, steps, unit, fn] of [
    ['train', 'pixel pre-training step (forward + backward + AdamW) on synthetic data: itpn vs PyTorch, images/s and peak memory (ITPN_PROFILE=1: per-kernel profile)', 5, 'steps', benchTrainCommand],
    ['infer', 'classifier forward (eval, no autograd) on synthetic images: itpn vs PyTorch, images/s and peak memory', 10, 'forward passes', benchInferCommand],
  ] as const) {
    bench.command(name).description(desc)
      .option('--arch <name>', 'architecture', 'itpn_base')
      .option('--img-size <n>', 'input size', positiveInt, 224)
      .option('--batch <n>', 'batch size', positiveInt, 8)
      .option('--steps <n>', `timed ${unit}`, positiveInt, steps)
      .option('--warmup <n>', `untimed ${unit} first`, nonNegativeInt, 2)
      .option('--rounds <n>', 'alternate the two sides this many times (ours, PyTorch, then PyTorch, ours, ...) and report medians', positiveInt, 1)
      .option('--backend <name>', 'cpu or reference', 'cpu')
      .option('--threads <n>', 'threads for both (default: all cores)', positiveInt)
      .option('--python <path>', 'Python with torch for the reference', '/usr/bin/python3')
      .option('--no-torch', 'skip the PyTorch reference')
      .option('--json', 'one JSON object', false)
      .action((o) => run(() => fn(o)));
  }

  for (const [name, desc, fn] of [
    ['gemm', 'GFLOP/s of 1024³ and the ViT-B MLP GEMMs (NN, NT, TN) beside PyTorch', benchGemmCommand],
    ['ops', 'layer norm, softmax, GELU and attention forward+backward at ViT-B shapes beside PyTorch', benchOpsCommand],
  ] as const) {
    bench.command(name).description(desc)
      .option('--backend <name>', 'cpu or reference', 'cpu')
      .option('--threads <n>', 'threads for both (default: all cores)', positiveInt)
      .option('--python <path>', 'Python with torch for the reference', '/usr/bin/python3')
      .option('--no-torch', 'skip the PyTorch reference')
      .option('--quick', 'shorter timing windows', false)
      .option('--json', 'one JSON object', false)
      .action((o) => run(() => fn(o)));
  }

  program.parse(argv);
}
