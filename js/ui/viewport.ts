// Image <-> screen transform for a zoomable, pannable canvas: screen = image * scale + (tx, ty).

export class Viewport {
  scale = 1;
  tx = 0;
  ty = 0;
  /** True until the user zooms or pans; a fitted view refits when the canvas resizes. */
  fitted = true;

  static readonly MIN = 0.02;
  static readonly MAX = 64;

  fit(imgW: number, imgH: number, viewW: number, viewH: number, pad = 8): void {
    if (imgW <= 0 || imgH <= 0 || viewW <= 0 || viewH <= 0) return;
    const s = Math.min((viewW - 2 * pad) / imgW, (viewH - 2 * pad) / imgH);
    this.scale = clamp(s, Viewport.MIN, Viewport.MAX);
    this.tx = (viewW - imgW * this.scale) / 2;
    this.ty = (viewH - imgH * this.scale) / 2;
    this.fitted = true;
  }

  /** 1:1 pixels, centred. */
  actual(imgW: number, imgH: number, viewW: number, viewH: number): void {
    this.scale = 1;
    this.tx = (viewW - imgW) / 2;
    this.ty = (viewH - imgH) / 2;
    this.fitted = false;
  }

  /** Multiply the scale by `factor`, keeping the image point under (sx, sy) fixed. */
  zoomAt(factor: number, sx: number, sy: number): void {
    const s = clamp(this.scale * factor, Viewport.MIN, Viewport.MAX);
    const k = s / this.scale;
    this.tx = sx - (sx - this.tx) * k;
    this.ty = sy - (sy - this.ty) * k;
    this.scale = s;
    this.fitted = false;
  }

  panBy(dx: number, dy: number): void {
    this.tx += dx;
    this.ty += dy;
    this.fitted = false;
  }

  toImage(sx: number, sy: number): [number, number] {
    return [(sx - this.tx) / this.scale, (sy - this.ty) / this.scale];
  }
}

export function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}
