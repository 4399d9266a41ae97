// Small helpers shared by the SVG-based drawings.

export const FONT_FAMILY = 'DejaVu Sans, Arial, Helvetica, sans-serif';

/** Text for an SVG text node or attribute. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Rough width of a text in a sans-serif font: enough to size margins and shrink labels to fit. */
export function estimateTextWidth(text: string, fontSize: number): number {
  return text.length * fontSize * 0.6;
}

/** Ten distinguishable line colours (matplotlib's tab10). */
export const SERIES_COLOURS = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd',
  '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
];
