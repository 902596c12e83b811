// Typed-array views over the binary buffers Python sends inside dict traits (they arrive as
// DataView). Copies only when the buffer is misaligned for the element type.

type Ctor<T> = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  new (length: number): T;
  BYTES_PER_ELEMENT: number;
};

function view<T extends ArrayLike<number>>(C: Ctor<T>, dv: unknown): T {
  if (!dv) return new C(0);
  if (ArrayBuffer.isView(dv)) {
    const bytes = dv.byteLength;
    const n = Math.floor(bytes / C.BYTES_PER_ELEMENT);
    if (dv.byteOffset % C.BYTES_PER_ELEMENT === 0) return new C(dv.buffer, dv.byteOffset, n);
    const copy = new Uint8Array(bytes);
    copy.set(new Uint8Array(dv.buffer, dv.byteOffset, bytes));
    return new C(copy.buffer, 0, n);
  }
  if (dv instanceof ArrayBuffer) return new C(dv, 0, Math.floor(dv.byteLength / C.BYTES_PER_ELEMENT));
  return new C(0);
}

export const f32 = (dv: unknown) => view(Float32Array, dv);
export const i32 = (dv: unknown) => view(Int32Array, dv);
export const u32 = (dv: unknown) => view(Uint32Array, dv);
export const u16 = (dv: unknown) => view(Uint16Array, dv);
export const u8 = (dv: unknown) => view(Uint8Array, dv);
