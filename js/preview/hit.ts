// Which shape is under the pointer: the last drawn (topmost) visible shape whose box contains
// the point, with rotated boxes and ellipses tested in their own frame.
import { Shapes, T } from "./shapes";

const DEG = Math.PI / 180;

export function hitTest(s: Shapes, visible: Uint8Array, px: number, py: number, slack: number): number {
  for (let i = s.n - 1; i >= 0; i--) {
    if (!visible[i]) continue;
    let x = s.x[i], y = s.y[i], w = s.w[i], h = s.h[i];
    if (s.type[i] === T.mask) {
      const a = s.poff[i];
      x = s.pts[a]; y = s.pts[a + 1]; w = s.pts[a + 2]; h = s.pts[a + 3];
    }
    if (![x, y, w, h].every(Number.isFinite)) continue;
    let qx = px, qy = py;
    const r = s.rotation[i];
    if (r && (s.type[i] === T.bbox || s.type[i] === T.ellipse)) {
      // rotate the point back about the centre so the box is axis-aligned
      const cx = x + w / 2, cy = y + h / 2, c = Math.cos(-r * DEG), n = Math.sin(-r * DEG);
      qx = cx + (px - cx) * c - (py - cy) * n;
      qy = cy + (px - cx) * n + (py - cy) * c;
    }
    if (qx >= x - slack && qx <= x + w + slack && qy >= y - slack && qy <= y + h + slack) return i;
  }
  return -1;
}
