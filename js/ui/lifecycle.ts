// One AbortSignal per view: fires when anywidget removes the view (its `signal`, anywidget >= 0.11)
// or when the cleanup function we return is called (every version). Every document/window
// listener, observer and animation frame of a view hangs off this signal.

export interface ViewLife {
  signal: AbortSignal;
  dispose: () => void;
  /** Run `fn` once when the view goes away. */
  onDispose: (fn: () => void) => void;
}

export function viewLife(outer?: AbortSignal): ViewLife {
  const ctl = new AbortController();
  const dispose = () => ctl.abort();
  if (outer) {
    if (outer.aborted) dispose();
    else outer.addEventListener("abort", dispose, { once: true });
  }
  const onDispose = (fn: () => void) => {
    if (ctl.signal.aborted) fn();
    else ctl.signal.addEventListener("abort", fn, { once: true });
  };
  return { signal: ctl.signal, dispose, onDispose };
}

/** Coalesce many redraw requests into one animation frame; cancelled with the view. */
export function frameScheduler(life: ViewLife, draw: () => void): () => void {
  let pending = 0;
  life.onDispose(() => {
    if (pending) cancelAnimationFrame(pending);
    pending = 0;
  });
  return () => {
    if (pending || life.signal.aborted) return;
    pending = requestAnimationFrame(() => {
      pending = 0;
      draw();
    });
  };
}
