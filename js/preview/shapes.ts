// The compact columns Preview sends for the current item, decoded once per item into typed arrays.
import { f32, i32, u16, u32, u8 } from "../ui/codecs";

/** Shape type codes; Python's annowidgets.widgets._columns.TYPE_CODES is the other half. */
export const T = { bbox: 0, polygon: 1, polyline: 2, points: 3, ellipse: 4, cuboid: 5, mask: 6, skeleton: 7 } as const;

export interface ShapeColumnsWire {
  n: number;
  [key: string]: unknown;
}

export interface Shapes {
  n: number;
  x: Float32Array;
  y: Float32Array;
  w: Float32Array;
  h: Float32Array;
  rotation: Float32Array;
  score: Float32Array;
  label: Int32Array;
  layer: Uint8Array;
  type: Uint8Array;
  status: Uint8Array;
  annId: Int32Array;
  /** Offsets (n + 1) into `pts`: flat x, y pairs; for masks [x0, y0, w, h] of the crop. */
  poff: Uint32Array;
  pts: Float32Array;
  /** Offsets (n + 1) into `runs`: row-major run lengths of the mask crop, starting with zeros. */
  moff: Uint32Array;
  runs: Uint32Array;
  /** Offsets (n + 1) into `edges`: pairs of point indices of a skeleton. */
  eoff: Uint32Array;
  edges: Uint16Array;
}

export function decodeShapes(wire: ShapeColumnsWire | null | undefined): Shapes {
  const c = (wire ?? { n: 0 }) as Record<string, unknown>;
  const n = Number(c.n ?? 0) | 0;
  const off = (k: string) => {
    const a = u32(c[k]);
    return a.length === n + 1 ? a : new Uint32Array(n + 1);
  };
  return {
    n,
    x: f32(c.x),
    y: f32(c.y),
    w: f32(c.w),
    h: f32(c.h),
    rotation: f32(c.rotation),
    score: f32(c.score),
    label: i32(c.label),
    layer: u8(c.layer),
    type: u8(c.type),
    status: u8(c.status),
    annId: i32(c.ann_id),
    poff: off("poff"),
    pts: f32(c.pts),
    moff: off("moff"),
    runs: u32(c.runs),
    eoff: off("eoff"),
    edges: u16(c.edges),
  };
}
