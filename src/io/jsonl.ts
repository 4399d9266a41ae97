// JSON-lines logs (one object per line), shared by the training loops: read, and rewrite after a resume.
import * as fs from 'node:fs';

export function readJsonl<T>(file: string): T[] {
  if (!fs.existsSync(file)) return [];
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as T);
}

export function writeJsonl(file: string, records: unknown[]): void {
  fs.writeFileSync(file, records.map((r) => JSON.stringify(r) + '\n').join(''));
}
