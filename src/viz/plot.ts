// Line plots (loss curves, accuracy over epochs) drawn as SVG and rendered to PNG.
import { writeSvgPng } from './png';
import { FONT_FAMILY, SERIES_COLOURS, escapeXml, estimateTextWidth } from './svg';

export interface LineSeries {
  name: string;
  x: number[];
  y: number[];
}

export interface LinePlotOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  width?: number;
  height?: number;
  /** Logarithmic y axis; points with y <= 0 are left out. */
  logY?: boolean;
}

interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
  format: (v: number) => string;
}

const TICK_FONT = 11;
const LABEL_FONT = 13;
const TITLE_FONT = 15;

/** Shortest exponential form with up to 3 significant digits: 1.5e-5, 2e6. */
function compactExponential(v: number): string {
  return Number(v.toPrecision(3)).toExponential().replace('e+', 'e');
}

/** Linear axis with 1/2/5 x 10^k steps, widened to whole steps. */
export function linearAxis(min: number, max: number, targetTicks = 6): Axis {
  if (!(max > min)) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const rough = (max - min) / targetTicks;
  const power = Math.pow(10, Math.floor(Math.log10(rough)));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough) ?? 10 * power;
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let k = 0; lo + k * step <= hi + step * 1e-6; k++) ticks.push(lo + k * step);
  const decimals = Math.max(0, Math.min(8, -Math.floor(Math.log10(step) + 1e-9)));
  const format = (v: number): string => {
    if (Math.abs(v) < step * 1e-6) return '0';
    if (Math.abs(v) >= 1e5 || decimals > 4) return compactExponential(v);
    return v.toFixed(decimals);
  };
  return { lo, hi, ticks, format };
}

/** Log axis from a power of ten to a power of ten, with 2 and 5 ticks when it spans few decades. */
export function logAxis(min: number, max: number): Axis {
  let loExp = Math.floor(Math.log10(min));
  let hiExp = Math.ceil(Math.log10(max));
  if (hiExp === loExp) hiExp++;
  const decades = hiExp - loExp;
  const every = Math.max(1, Math.ceil(decades / 8)); // at most about 8 labelled decades
  const ticks: number[] = [];
  for (let e = loExp; e <= hiExp; e += every) {
    ticks.push(Math.pow(10, e));
    if (decades <= 2 && e < hiExp) ticks.push(2 * Math.pow(10, e), 5 * Math.pow(10, e));
  }
  // one style for the whole axis: plain numbers only when every tick is readable that way
  const plain = loExp >= -3 && hiExp <= 4;
  const format = (v: number): string => (plain ? String(Number(v.toPrecision(3))) : compactExponential(v));
  loExp = Math.min(loExp, hiExp - 1);
  return { lo: Math.pow(10, loExp), hi: Math.pow(10, hiExp), ticks, format };
}

/** SVG text of the plot; exposed so callers can embed it elsewhere. */
export function linePlotSvg(series: LineSeries[], opts: LinePlotOptions = {}): string {
  const width = opts.width ?? 800;
  const height = opts.height ?? 480;
  const logY = opts.logY ?? false;
  const usable = (x: number, y: number): boolean => Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0);

  let xMin = Infinity, xMax = -Infinity, yMin = Infinity, yMax = -Infinity;
  for (const s of series) {
    for (let i = 0; i < Math.min(s.x.length, s.y.length); i++) {
      if (!usable(s.x[i], s.y[i])) continue;
      xMin = Math.min(xMin, s.x[i]); xMax = Math.max(xMax, s.x[i]);
      yMin = Math.min(yMin, s.y[i]); yMax = Math.max(yMax, s.y[i]);
    }
  }
  if (xMin > xMax) { xMin = 0; xMax = 1; }
  if (yMin > yMax) { yMin = logY ? 0.1 : 0; yMax = 1; }
  const xAxis = linearAxis(xMin, xMax);
  const yAxis = logY ? logAxis(yMin, yMax) : linearAxis(yMin, yMax);

  const tickLabelWidth = Math.max(...yAxis.ticks.map((t) => estimateTextWidth(yAxis.format(t), TICK_FONT)));
  const left = 12 + (opts.yLabel ? LABEL_FONT + 8 : 0) + tickLabelWidth + 8;
  const right = 20;
  const top = opts.title ? TITLE_FONT + 22 : 16;
  const bottom = 12 + TICK_FONT + 8 + (opts.xLabel ? LABEL_FONT + 8 : 0);
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const px = (x: number): number => left + ((x - xAxis.lo) / (xAxis.hi - xAxis.lo)) * plotW;
  const py = logY
    ? (y: number): number => top + plotH - ((Math.log10(y) - Math.log10(yAxis.lo)) / (Math.log10(yAxis.hi) - Math.log10(yAxis.lo))) * plotH
    : (y: number): number => top + plotH - ((y - yAxis.lo) / (yAxis.hi - yAxis.lo)) * plotH;
  const f = (v: number): string => v.toFixed(1);

  const parts: string[] = [];
  parts.push(`<rect x="0" y="0" width="${width}" height="${height}" fill="#fff"/>`);
  // grid and ticks
  for (const t of xAxis.ticks) {
    parts.push(`<line x1="${f(px(t))}" y1="${top}" x2="${f(px(t))}" y2="${top + plotH}" stroke="#e5e5e5"/>`);
    parts.push(`<line x1="${f(px(t))}" y1="${top + plotH}" x2="${f(px(t))}" y2="${top + plotH + 5}" stroke="#000"/>`);
    parts.push(`<text x="${f(px(t))}" y="${top + plotH + 8 + TICK_FONT}" font-size="${TICK_FONT}" text-anchor="middle">${escapeXml(xAxis.format(t))}</text>`);
  }
  for (const t of yAxis.ticks) {
    if (t < yAxis.lo || t > yAxis.hi) continue;
    parts.push(`<line x1="${left}" y1="${f(py(t))}" x2="${left + plotW}" y2="${f(py(t))}" stroke="#e5e5e5"/>`);
    parts.push(`<line x1="${left - 5}" y1="${f(py(t))}" x2="${left}" y2="${f(py(t))}" stroke="#000"/>`);
    parts.push(`<text x="${left - 8}" y="${f(py(t) + TICK_FONT * 0.35)}" font-size="${TICK_FONT}" text-anchor="end">${escapeXml(yAxis.format(t))}</text>`);
  }
  parts.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#000"/>`);
  // series, clipped to the plot area; NaN/Inf (and y <= 0 on a log axis) break the line
  parts.push(`<clipPath id="plot-area"><rect x="${left}" y="${top}" width="${plotW}" height="${plotH}"/></clipPath>`);
  parts.push('<g clip-path="url(#plot-area)" fill="none" stroke-width="2" stroke-linejoin="round">');
  series.forEach((s, index) => {
    const colour = SERIES_COLOURS[index % SERIES_COLOURS.length];
    const runs: string[][] = [[]];
    const n = Math.min(s.x.length, s.y.length);
    for (let i = 0; i < n; i++) {
      if (usable(s.x[i], s.y[i])) runs[runs.length - 1].push(`${f(px(s.x[i]))},${f(py(s.y[i]))}`);
      else if (runs[runs.length - 1].length > 0) runs.push([]);
    }
    for (const run of runs) {
      if (run.length > 1) parts.push(`<polyline points="${run.join(' ')}" stroke="${colour}"/>`);
    }
    // markers make short series (a few epochs) readable
    if (n <= 40) {
      for (const run of runs) for (const p of run) {
        const [cx, cy] = p.split(',');
        parts.push(`<circle cx="${cx}" cy="${cy}" r="2.5" fill="${colour}" stroke="none"/>`);
      }
    }
  });
  parts.push('</g>');
  // legend, top right inside the plot
  const named = series.map((s, i) => ({ name: s.name, colour: SERIES_COLOURS[i % SERIES_COLOURS.length] })).filter((s) => s.name);
  if (named.length > 0) {
    const rowH = TICK_FONT + 7;
    const boxW = 34 + Math.max(...named.map((s) => estimateTextWidth(s.name, TICK_FONT)));
    const boxX = left + plotW - boxW - 8;
    const boxY = top + 8;
    parts.push(`<rect x="${f(boxX)}" y="${boxY}" width="${f(boxW)}" height="${named.length * rowH + 8}" fill="#fff" fill-opacity="0.85" stroke="#999"/>`);
    named.forEach((s, i) => {
      const y = boxY + 4 + rowH * i + rowH / 2;
      parts.push(`<line x1="${f(boxX + 6)}" y1="${f(y)}" x2="${f(boxX + 26)}" y2="${f(y)}" stroke="${s.colour}" stroke-width="2"/>`);
      parts.push(`<text x="${f(boxX + 30)}" y="${f(y + TICK_FONT * 0.35)}" font-size="${TICK_FONT}">${escapeXml(s.name)}</text>`);
    });
  }
  // title and axis labels
  if (opts.title) {
    parts.push(`<text x="${f(left + plotW / 2)}" y="${TITLE_FONT + 8}" font-size="${TITLE_FONT}" font-weight="bold" text-anchor="middle">${escapeXml(opts.title)}</text>`);
  }
  if (opts.xLabel) {
    parts.push(`<text x="${f(left + plotW / 2)}" y="${height - 10}" font-size="${LABEL_FONT}" text-anchor="middle">${escapeXml(opts.xLabel)}</text>`);
  }
  if (opts.yLabel) {
    const cx = 12 + LABEL_FONT / 2;
    const cy = top + plotH / 2;
    parts.push(`<text x="${f(cx)}" y="${f(cy)}" font-size="${LABEL_FONT}" text-anchor="middle" dominant-baseline="middle" transform="rotate(-90 ${f(cx)} ${f(cy)})">${escapeXml(opts.yLabel)}</text>`);
  }
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<g font-family="${FONT_FAMILY}" fill="#000">${parts.join('')}</g></svg>`
  );
}

/** Draws the series as lines with axes, numbered ticks and a legend, and writes a PNG. */
export async function writeLinePlot(file: string, series: LineSeries[], opts: LinePlotOptions = {}): Promise<void> {
  await writeSvgPng(file, linePlotSvg(series, opts));
}
