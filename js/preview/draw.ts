// Drawing every shape of one item on one canvas. Shapes of the same style are batched into one
// path, so 5,000 boxes cost a handful of stroke() calls per frame.
import { rgb, rgba } from "../ui/colors";
import { Shapes, T } from "./shapes";

export interface Style {
  color: string;
  dashed: boolean;
}

export interface DrawOptions {
  scale: number;
  /** Which shapes to draw (already filtered by layer and score). */
  visible: Uint8Array;
  styleOf: (i: number) => Style;
  maskCache: Map<string, HTMLCanvasElement>;
  /** Index of a shape to emphasise (hovered), or -1. */
  highlight?: number;
}

const DEG = Math.PI / 180;

function boxPath(ctx: CanvasRenderingContext2D, s: Shapes, i: number): void {
  const x = s.x[i], y = s.y[i], w = s.w[i], h = s.h[i], r = s.rotation[i];
  if (!r) {
    ctx.rect(x, y, w, h);
    return;
  }
  const cx = x + w / 2, cy = y + h / 2, c = Math.cos(r * DEG), n = Math.sin(r * DEG);
  const pts: [number, number][] = [[-w / 2, -h / 2], [w / 2, -h / 2], [w / 2, h / 2], [-w / 2, h / 2]];
  pts.forEach(([dx, dy], k) => {
    const px = cx + dx * c - dy * n, py = cy + dx * n + dy * c;
    if (k === 0) ctx.moveTo(px, py);
    else ctx.lineTo(px, py);
  });
  ctx.closePath();
}

function polyPath(ctx: CanvasRenderingContext2D, s: Shapes, i: number, close: boolean, from = 0, count = -1): void {
  const a = s.poff[i], b = s.poff[i + 1];
  const n = (b - a) >> 1;
  const end = count < 0 ? n : Math.min(n, from + count);
  let started = false;
  for (let k = from; k < end; k++) {
    const px = s.pts[a + 2 * k], py = s.pts[a + 2 * k + 1];
    if (!Number.isFinite(px) || !Number.isFinite(py)) continue;
    if (!started) ctx.moveTo(px, py);
    else ctx.lineTo(px, py);
    started = true;
  }
  if (close && started) ctx.closePath();
}

function dotsPath(ctx: CanvasRenderingContext2D, s: Shapes, i: number, radius: number): void {
  const a = s.poff[i], b = s.poff[i + 1];
  for (let k = a; k + 1 < b; k += 2) {
    const px = s.pts[k], py = s.pts[k + 1];
    if (!Number.isFinite(px) || !Number.isFinite(py)) continue;
    ctx.moveTo(px + radius, py);
    ctx.arc(px, py, radius, 0, 2 * Math.PI);
  }
}

function ellipsePath(ctx: CanvasRenderingContext2D, s: Shapes, i: number): void {
  const rx = s.w[i] / 2, ry = s.h[i] / 2, cx = s.x[i] + rx, cy = s.y[i] + ry, r = s.rotation[i] * DEG;
  ctx.moveTo(cx + rx * Math.cos(r), cy + rx * Math.sin(r));
  ctx.ellipse(cx, cy, rx, ry, r, 0, 2 * Math.PI);
}

function skeletonEdges(ctx: CanvasRenderingContext2D, s: Shapes, i: number): void {
  const a = s.poff[i];
  for (let e = s.eoff[i]; e + 1 < s.eoff[i + 1]; e += 2) {
    const p = a + 2 * s.edges[e], q = a + 2 * s.edges[e + 1];
    if (q + 1 >= s.poff[i + 1] || p + 1 >= s.poff[i + 1]) continue;
    const x0 = s.pts[p], y0 = s.pts[p + 1], x1 = s.pts[q], y1 = s.pts[q + 1];
    if (![x0, y0, x1, y1].every(Number.isFinite)) continue;
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1, y1);
  }
}

function cuboidPath(ctx: CanvasRenderingContext2D, s: Shapes, i: number): void {
  polyPath(ctx, s, i, true, 0, 4);
  polyPath(ctx, s, i, true, 4, 4);
  const a = s.poff[i];
  if (s.poff[i + 1] - a < 16) return;
  for (let k = 0; k < 4; k++) {
    ctx.moveTo(s.pts[a + 2 * k], s.pts[a + 2 * k + 1]);
    ctx.lineTo(s.pts[a + 2 * (k + 4)], s.pts[a + 2 * (k + 4) + 1]);
  }
}

/** A canvas with the mask crop painted in `color`; cached per shape and colour. */
function maskCanvas(s: Shapes, i: number, color: string, cache: Map<string, HTMLCanvasElement>): HTMLCanvasElement | null {
  const key = `${i}|${color}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const a = s.poff[i];
  const w = s.pts[a + 2] | 0, h = s.pts[a + 3] | 0;
  if (w <= 0 || h <= 0) return null;
  const canvas = document.createElement("canvas");
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d");
  if (!ctx) return null;
  const img = ctx.createImageData(w, h);
  const [r, g, b] = rgb(color);
  let pos = 0;
  let on = false;
  const total = w * h;
  for (let k = s.moff[i]; k < s.moff[i + 1] && pos < total; k++) {
    const run = Math.min(s.runs[k], total - pos);
    if (on) {
      for (let p = pos; p < pos + run; p++) {
        const q = 4 * p;
        img.data[q] = r;
        img.data[q + 1] = g;
        img.data[q + 2] = b;
        img.data[q + 3] = 110;
      }
    }
    pos += run;
    on = !on;
  }
  ctx.putImageData(img, 0, 0);
  cache.set(key, canvas);
  return canvas;
}

/** Draw the visible shapes; the context already maps image pixels. Returns how many were drawn. */
export function drawShapes(ctx: CanvasRenderingContext2D, s: Shapes, opt: DrawOptions): number {
  const lw = 2 / opt.scale;
  const dash = [6 / opt.scale, 4 / opt.scale];
  const dotR = 3 / opt.scale;
  let drawn = 0;

  // Masks first (under the outlines), each a cached bitmap.
  for (let i = 0; i < s.n; i++) {
    if (!opt.visible[i] || s.type[i] !== T.mask) continue;
    const st = opt.styleOf(i);
    const c = maskCanvas(s, i, st.color, opt.maskCache);
    const a = s.poff[i];
    if (c) ctx.drawImage(c, s.pts[a], s.pts[a + 1]);
  }

  // Outlines, batched by style. Order shapes by style key so each style is one path.
  const groups = new Map<string, number[]>();
  for (let i = 0; i < s.n; i++) {
    if (!opt.visible[i]) continue;
    drawn++;
    const st = opt.styleOf(i);
    const key = `${st.color}|${st.dashed ? 1 : 0}`;
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(i);
  }
  ctx.lineWidth = lw;
  ctx.lineJoin = "round";
  for (const [key, idx] of groups) {
    const [color, dashed] = key.split("|");
    ctx.strokeStyle = color;
    ctx.setLineDash(dashed === "1" ? dash : []);
    // Area shapes get a light fill so overlapping polygons stay readable.
    ctx.beginPath();
    let fills = false;
    for (const i of idx) {
      const t = s.type[i];
      if (t === T.polygon) { polyPath(ctx, s, i, true); fills = true; }
      else if (t === T.ellipse) { ellipsePath(ctx, s, i); fills = true; }
    }
    if (fills) {
      ctx.fillStyle = rgba(color, 0.15);
      ctx.fill();
    }
    ctx.beginPath();
    for (const i of idx) {
      switch (s.type[i]) {
        case T.bbox: boxPath(ctx, s, i); break;
        case T.polygon: polyPath(ctx, s, i, true); break;
        case T.polyline: polyPath(ctx, s, i, false); break;
        case T.ellipse: ellipsePath(ctx, s, i); break;
        case T.cuboid: cuboidPath(ctx, s, i); break;
        case T.skeleton: skeletonEdges(ctx, s, i); break;
        case T.mask: {
          const a = s.poff[i];
          ctx.rect(s.pts[a], s.pts[a + 1], s.pts[a + 2], s.pts[a + 3]);
          break;
        }
        default: break;
      }
    }
    ctx.stroke();
    ctx.beginPath();
    let dots = false;
    for (const i of idx) {
      if (s.type[i] === T.points || s.type[i] === T.skeleton) { dotsPath(ctx, s, i, dotR); dots = true; }
    }
    if (dots) {
      ctx.fillStyle = color;
      ctx.fill();
    }
  }
  const hi = opt.highlight ?? -1;
  if (hi >= 0 && hi < s.n && opt.visible[hi]) {
    const st = opt.styleOf(hi);
    ctx.setLineDash([]);
    ctx.lineWidth = 3.5 / opt.scale;
    ctx.strokeStyle = st.color;
    ctx.beginPath();
    const a = s.poff[hi];
    if (s.type[hi] === T.bbox) boxPath(ctx, s, hi);
    else if (s.type[hi] === T.ellipse) ellipsePath(ctx, s, hi);
    else if (s.type[hi] === T.mask) ctx.rect(s.pts[a], s.pts[a + 1], s.pts[a + 2], s.pts[a + 3]);
    else if (s.type[hi] === T.polygon || s.type[hi] === T.cuboid) polyPath(ctx, s, hi, true);
    else ctx.rect(s.x[hi], s.y[hi], s.w[hi], s.h[hi]);
    ctx.stroke();
  }
  ctx.setLineDash([]);
  return drawn;
}
