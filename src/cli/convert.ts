// `itpn convert <in.pth> <out.safetensors>`: an official PyTorch checkpoint to safetensors, keys unchanged.
import * as fs from 'node:fs';
import { readPthStateDict } from '../io/pth';
import { writeSafetensors } from '../io/safetensors';

export function convertCommand(input: string, output: string): number {
  if (!fs.existsSync(input)) throw new Error(`no such file: ${input}`);
  const sd = readPthStateDict(input);
  writeSafetensors(output, sd, { format: 'pt', source: input.split('/').pop() ?? input });
  let n = 0;
  for (const t of sd.values()) n += t.shape.reduce((p, d) => p * d, 1);
  console.log(`wrote ${output}: ${sd.size} tensors, ${n.toLocaleString('en-US')} values`);
  return 0;
}
