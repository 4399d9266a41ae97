// The `itpn` command line: one module per command, parsed here with commander.
import { Command } from 'commander';
import { parityCommand } from './parity';
import { infoCommand } from './info';
import { convertCommand } from './convert';

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

  program.parse(argv);
}
