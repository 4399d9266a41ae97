// The `itpn` command line: one module per command, parsed here with commander.
import { Command } from 'commander';
import { parityCommand } from './parity';
import { infoCommand } from './info';
import { convertCommand } from './convert';
import { pretrainCommand } from './pretrain';
import { benchTrainCommand } from './bench';
import { benchGemmCommand, benchOpsCommand } from './bench_kernels';

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
  program.name('itpn').description('iTPN: integrally pre-trained transformer pyramid networks, in TypeScript').showHelpAfterError();

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
    .option('--img-size <n>', 'input size', (v) => parseInt(v, 10))
    .option('--num-classes <n>', 'classifier classes', (v) => parseInt(v, 10))
    .option('--teacher-dim <n>', 'CLIP target dimension', (v) => parseInt(v, 10))
    .option('--keys', 'list every state-dict key and shape', false)
    .option('--json', 'JSON output', false)
    .action((arch: string, o) => run(() => infoCommand(arch, o)));

  program.command('convert')
    .description('convert a PyTorch .pth/.pt checkpoint (torch.save zip format) to safetensors with the same keys')
    .argument('<in>', 'input .pth')
    .argument('<out>', 'output .safetensors')
    .action((i: string, out: string) => run(() => convertCommand(i, out)));

  const int = (v: string) => parseInt(v, 10);
  program.command('pretrain')
    .description('pre-train an iTPN on a folder of images (pixel reconstruction, random 75% masking)')
    .option('--data <dir>', 'image folder (class sub-folders or flat; jpg/png/webp)', 'data/imagenette-mini/train')
    .option('--arch <name>', 'itpn_tiny | itpn_small | itpn_base | itpn_large', 'itpn_tiny')
    .option('--variant <v>', 'pixel (clip is not implemented yet)', 'pixel')
    .option('--img-size <n>', 'input size, a multiple of 16', int, 112)
    .option('--batch <n>', 'images per step (per micro-batch with --accum-iter)', int, 32)
    .option('--accum-iter <n>', 'gradient accumulation micro-batches per step', int, 1)
    .option('--steps <n>', 'optimizer steps', int, 200)
    .option('--epochs <n>', 'train for N epochs instead of --steps', int)
    .option('--blr <x>', 'base lr per 256 images (lr = blr × batch × accum / 256); the official 1.5e-4 is for batch 4096 and 400+ epochs, short small runs want more', parseFloat, 1.5e-3)
    .option('--lr <x>', 'absolute lr (overrides --blr)', parseFloat)
    .option('--min-lr <x>', 'final lr of the cosine', parseFloat, 0)
    .option('--warmup-steps <n>', 'linear warmup steps (default: 10% of --steps)', int)
    .option('--weight-decay <x>', 'AdamW weight decay', parseFloat, 0.05)
    .option('--clip-grad <x>', 'clip the global gradient norm', parseFloat)
    .option('--mask-ratio <x>', 'fraction of tokens removed', parseFloat, 0.75)
    .option('--seed <n>', 'seed of every random choice', int, 0)
    .option('--out <dir>', 'output folder', 'runs/pretrain')
    .option('--resume', 'continue from the checkpoint in --out', false)
    .option('--stop-at <n>', 'stop after step N (checkpointed) and continue later with --resume', int)
    .option('--backend <name>', 'cpu or reference', 'cpu')
    .option('--threads <n>', 'compute threads', int)
    .option('--workers <n>', 'image decode workers', int)
    .option('--viz-every <n>', 'write a reconstruction grid every N steps (0: only at the end)', int, 50)
    .option('--save-every <n>', 'checkpoint every N steps (0: only at the end)', int, 50)
    .action((o) => run(() => pretrainCommand(o)));

  const bench = program.command('bench').description('benchmarks, side by side with the PyTorch reference');
  bench.command('train')
    .description('pixel pre-training step (forward + backward + AdamW) on synthetic data: itpn vs PyTorch')
    .option('--arch <name>', 'architecture', 'itpn_base')
    .option('--img-size <n>', 'input size', int, 224)
    .option('--batch <n>', 'batch size', int, 8)
    .option('--steps <n>', 'timed steps', int, 5)
    .option('--warmup <n>', 'untimed steps first', int, 2)
    .option('--backend <name>', 'cpu or reference', 'cpu')
    .option('--threads <n>', 'threads for both (default: all cores)', int)
    .option('--python <path>', 'Python with torch for the reference', '/usr/bin/python3')
    .option('--no-torch', 'skip the PyTorch reference')
    .option('--json', 'one JSON object', false)
    .action((o) => run(() => benchTrainCommand(o)));

  for (const [name, desc, fn] of [
    ['gemm', 'GFLOP/s of 1024³ and the ViT-B MLP GEMMs (NN, NT, TN) beside PyTorch', benchGemmCommand],
    ['ops', 'layer norm, softmax, GELU and attention forward+backward at ViT-B shapes beside PyTorch', benchOpsCommand],
  ] as const) {
    bench.command(name).description(desc)
      .option('--backend <name>', 'cpu or reference', 'cpu')
      .option('--threads <n>', 'threads for both (default: all cores)', int)
      .option('--python <path>', 'Python with torch for the reference', '/usr/bin/python3')
      .option('--no-torch', 'skip the PyTorch reference')
      .option('--quick', 'shorter timing windows', false)
      .option('--json', 'one JSON object', false)
      .action((o) => run(() => fn(o)));
  }

  program.parse(argv);
}
