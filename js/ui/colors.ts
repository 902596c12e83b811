// Colours shared by every widget: match outcome colours and rgba helpers.

export const MATCH_COLORS: Record<number, string> = {
  1: "#2ca02c", // TP: green
  2: "#d62728", // FP: red
  3: "#ff7f0e", // FN: orange
};

export const NEUTRAL = "#9e9e9e";

/** "#rrggbb" + alpha -> "rgba(r,g,b,a)"; unknown input falls back to the neutral grey. */
export function rgba(hex: string, alpha: number): string {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex.trim());
  const v = m ? parseInt(m[1], 16) : 0x9e9e9e;
  return `rgba(${(v >> 16) & 255},${(v >> 8) & 255},${v & 255},${alpha})`;
}

export function rgb(hex: string): [number, number, number] {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex.trim());
  const v = m ? parseInt(m[1], 16) : 0x9e9e9e;
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}
