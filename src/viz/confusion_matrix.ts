// Confusion-matrix heat map: rows are true classes, columns predictions, counts printed in the cells.
import { writeSvgPng } from './png';
import { FONT_FAMILY, escapeXml, estimateTextWidth } from './svg';

export interface ConfusionMatrixOptions {
  title?: string;
  /** Cell edge in pixels. Default 44. */
  cellSize?: number;
}

const FONT = 12;

/** White to dark blue; t in [0, 1]. */
function heatColour(t: number): string {
  const from = [247, 251, 255];
  const to = [8, 48, 107];
  const c = from.map((a, i) => Math.round(a + (to[i] - a) * t));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

export function confusionMatrixSvg(matrix: number[][], classNames: string[], opts: ConfusionMatrixOptions = {}): string {
  const n = matrix.length;
  if (n === 0 || matrix.some((row) => row.length !== n)) throw new Error('confusion matrix must be square and non-empty');
  if (classNames.length !== n) throw new Error(`confusion matrix has ${n} classes but ${classNames.length} names were given`);
  const cell = opts.cellSize ?? 44;
  const nameWidth = Math.max(...classNames.map((c) => estimateTextWidth(c, FONT)));
  const left = 14 + FONT + 8 + nameWidth + 8; // axis title, row names
  const top = (opts.title ? 30 : 8) + 14 + FONT + nameWidth * 0.75 + 10; // column names are slanted at 45 degrees
  const width = Math.ceil(left + n * cell + 20 + nameWidth * 0.75);
  const height = Math.ceil(top + n * cell + 20);

  const parts: string[] = [`<rect width="${width}" height="${height}" fill="#fff"/>`];
  if (opts.title) parts.push(`<text x="${width / 2}" y="22" font-size="15" font-weight="bold" text-anchor="middle">${escapeXml(opts.title)}</text>`);
  for (let r = 0; r < n; r++) {
    // colour by the row's share so classes with few samples still show their errors
    const rowTotal = matrix[r].reduce((a, b) => a + b, 0);
    for (let c = 0; c < n; c++) {
      const count = matrix[r][c];
      const share = rowTotal > 0 ? count / rowTotal : 0;
      const x = left + c * cell;
      const y = top + r * cell;
      parts.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="${heatColour(share)}" stroke="#ccc"/>`);
      const text = Number.isInteger(count) ? String(count) : count.toFixed(2);
      const size = Math.min(FONT, (cell - 4) / Math.max(1, text.length * 0.6));
      parts.push(`<text x="${x + cell / 2}" y="${y + cell / 2 + size * 0.35}" font-size="${size.toFixed(1)}" text-anchor="middle" fill="${share > 0.5 ? '#fff' : '#000'}">${text}</text>`);
    }
    parts.push(`<text x="${left - 6}" y="${top + r * cell + cell / 2 + FONT * 0.35}" font-size="${FONT}" text-anchor="end">${escapeXml(classNames[r])}</text>`);
  }
  for (let c = 0; c < n; c++) {
    const x = left + c * cell + cell / 2;
    const y = top - 6;
    parts.push(`<text x="${x}" y="${y}" font-size="${FONT}" transform="rotate(-45 ${x} ${y})">${escapeXml(classNames[c])}</text>`);
  }
  parts.push(`<text x="${left + (n * cell) / 2}" y="${height - 4}" font-size="13" text-anchor="middle">predicted</text>`);
  const cy = top + (n * cell) / 2;
  parts.push(`<text x="${14 + FONT / 2}" y="${cy}" font-size="13" text-anchor="middle" transform="rotate(-90 ${14 + FONT / 2} ${cy})">true</text>`);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<g font-family="${FONT_FAMILY}" fill="#000">${parts.join('')}</g></svg>`
  );
}

/** Writes a heat map of `matrix` (rows: true class, columns: predicted) with the counts in the cells. */
export async function writeConfusionMatrix(
  file: string,
  matrix: number[][],
  classNames: string[],
  opts: ConfusionMatrixOptions = {},
): Promise<void> {
  await writeSvgPng(file, confusionMatrixSvg(matrix, classNames, opts));
}
