// Files between the browser and the kernel as binary comm buffers (never base64).
// Upload: upload_start -> ack -> upload_chunk(offset, one buffer) -> ack(received) ... ; at most
// WINDOW (4) chunks are unacknowledged, so a large file streams without piling up in the comm.
// Download: file_chunk messages joined into one Blob, then an <a download> click.
import type { ViewLife } from "./lifecycle";
import type { ModelLike } from "./form";

const WINDOW = 4;

export interface UploadState { name: string; size: number; sent: number; acked: number; error?: string; done: boolean }

/** Sends `file` in chunks of the `chunk_size` trait; `onState` sees every step. Returns an abort function. */
export function uploadFile(model: ModelLike, life: ViewLife, file: File, onState: (s: UploadState) => void): () => void {
  const chunk = Math.max(256, Number(model.get("chunk_size")) || 4 * 2 ** 20);
  const st: UploadState = { name: file.name, size: file.size, sent: 0, acked: 0, done: false };
  let id: string | null = null;
  let inflight = 0;
  let stopped = false;
  // acks of an earlier upload may still arrive: the start ack is known by this token
  const token = Math.random().toString(36).slice(2);

  // Chunks are read asynchronously; one promise chain keeps them in offset order on the wire.
  let chain: Promise<void> = Promise.resolve();
  const pump = () => {
    while (!stopped && id && inflight < WINDOW && st.sent < st.size) {
      const offset = st.sent;
      const end = Math.min(st.size, offset + chunk);
      st.sent = end;
      inflight += 1;
      const uid = id;
      chain = chain.then(async () => {
        const buf = await file.slice(offset, end).arrayBuffer();
        if (!stopped) model.send({ kind: "upload_chunk", id: uid, offset }, undefined, [buf]);
      }).catch((err) => {
        if (stopped) return;
        st.error = `cannot read ${file.name}: ${err}`;
        stop();
        model.send({ kind: "upload_abort", id: uid });
        onState({ ...st });
      });
    }
  };

  const onMsg = (msg: { kind?: string; id?: string | null; token?: string; received?: number; done?: boolean; error?: string }) => {
    if (stopped || msg?.kind !== "upload_ack") return;
    if (id === null) {
      if (msg.token !== token) return;
      id = msg.id ?? null;
    } else if (msg.id !== id) return;
    if (msg.error) {
      st.error = msg.error;
      stop();
      onState({ ...st });
      return;
    }
    if (inflight > 0 && (msg.received ?? 0) > st.acked) inflight -= 1;
    st.acked = msg.received ?? st.acked;
    st.done = Boolean(msg.done);
    onState({ ...st });
    if (st.done) stop();
    else pump();
  };
  const stop = () => {
    if (stopped) return;
    stopped = true;
    model.off("msg:custom", onMsg);  // one listener per upload, gone with it
  };
  model.on("msg:custom", onMsg);
  life.onDispose(stop);
  model.send({ kind: "upload_start", name: file.name, size: file.size, token });
  onState({ ...st });
  return () => {
    if (stopped) return;
    stop();
    model.send({ kind: "upload_abort", id });
  };
}

/** Joins `file_chunk` messages into a Blob and starts the download; `onDone(name, bytes)` after. */
export function receiveFiles(model: ModelLike, life: ViewLife, host: HTMLElement, onDone: (name: string, bytes: number) => void): void {
  const parts = new Map<string, BlobPart[]>();
  model.on("msg:custom", (msg: { kind?: string; token?: string; index?: number; count?: number; name?: string }, buffers: DataView[]) => {
    if (msg?.kind !== "file_chunk" || !buffers?.length || life.signal.aborted) return;
    const key = String(msg.token);
    const list = parts.get(key) ?? [];
    const b = buffers[0];
    list.push(new Uint8Array(b.buffer, b.byteOffset, b.byteLength).slice());
    parts.set(key, list);
    if (list.length < (msg.count ?? 1)) return;
    parts.delete(key);
    const blob = new Blob(list, { type: "application/zip" });
    const url = URL.createObjectURL(blob);
    const a = document.createElement("a");
    a.href = url;
    a.download = String(msg.name ?? "result.zip");
    a.className = "aw-download-link";
    host.append(a);
    a.click();
    a.remove();
    onDone(a.download, blob.size);
    const t = window.setTimeout(() => URL.revokeObjectURL(url), 30000);
    life.onDispose(() => { clearTimeout(t); URL.revokeObjectURL(url); });
  });
}
