// Preview: one item's image with annotations and predictions drawn on ONE canvas, per-layer
// toggles, score threshold, TP/FP/FN colours, zoom/pan and keyboard navigation.
// Python owns the data (item, image bytes, shape columns, matching); this file only draws and
// reports what the user asked for through synced traits or {kind: ...} messages.
import type { AnyModel, AnyWidget, RenderProps } from "@anywidget/types";
import "./preview.css";
import { MATCH_COLORS, NEUTRAL } from "./ui/colors";
import { h } from "./ui/dom";
import { frameScheduler, viewLife } from "./ui/lifecycle";
import { clamp, Viewport } from "./ui/viewport";
import { drawShapes, Style } from "./preview/draw";
import { hitTest } from "./preview/hit";
import { decodeShapes, ShapeColumnsWire, Shapes } from "./preview/shapes";

interface Item {
  item_id: number | null;
  name: string;
  width: number;
  height: number;
  position: number;
  total: number;
  image_error: string;
}
interface Layer { key: string; source: string; model_version: string | null; count: number }
interface Label { name: string; color: string }
interface Counts { tp: number; fp: number; fn: number }
interface ItemList { start: number; total: number; rows: [number, string, number][] }

export interface PreviewModel {
  item: Item;
  image: DataView | null;
  shapes: ShapeColumnsWire;
  labels: Label[];
  layers: Layer[];
  hidden_layers: string[];
  score_threshold: number;
  iou_threshold: number;
  compare_layer: string;
  color_by: string;
  position: number;
  label_filter: string;
  errors_only: boolean;
  item_list: ItemList;
  summary: Record<string, Counts>;
  height: number;
}

type Model = AnyModel<PreviewModel>;

function render({ model, el, signal }: RenderProps<PreviewModel>) {
  const life = viewLife(signal);
  const on = { signal: life.signal } as const;

  // ---- DOM ------------------------------------------------------------------------------
  const prev = h("button", { class: "aw-btn", title: "Previous item (←)", text: "◀" });
  const next = h("button", { class: "aw-btn", title: "Next item (→)", text: "▶" });
  const where = h("span", { class: "aw-pv-where" });
  const nextError = h("button", { class: "aw-btn aw-pv-next-error", title: "Next item with a false positive or negative (e; Shift+E back)", text: "next error" });
  const fit = h("button", { class: "aw-btn", title: "Fit (0)", text: "Fit" });
  const actual = h("button", { class: "aw-btn", title: "Actual pixels", text: "1:1" });
  const zoomLabel = h("span", { class: "aw-muted aw-pv-zoom" });
  const colorBy = h("select", { class: "aw-pv-colorby", title: "Colour shapes by" },
    h("option", { value: "label", text: "colour: label" }),
    h("option", { value: "match", text: "colour: TP/FP/FN" }));
  const slider = h("input", { class: "aw-pv-threshold", type: "range", min: 0, max: 1, step: 0.01, title: "Score threshold" });
  const sliderValue = h("span", { class: "aw-muted aw-pv-threshold-value" });
  const toolbar = h("div", { class: "aw-toolbar" }, prev, next, where, nextError, fit, actual, zoomLabel, colorBy,
    h("label", { class: "aw-pv-slider" }, "score ≥ ", slider, sliderValue));

  const layersBox = h("div", { class: "aw-pv-layers" });
  const summaryBox = h("div", { class: "aw-pv-summary" });
  const legend = h("div", { class: "aw-pv-legend" });
  const labelFilter = h("select", { class: "aw-pv-label-filter", title: "Only items with this label" });
  const errorsOnly = h("input", { type: "checkbox", class: "aw-pv-errors-only" });
  const listBox = h("div", { class: "aw-pv-list" });
  const side = h("div", { class: "aw-pv-side" },
    h("div", { class: "aw-pv-heading", text: "Layers" }), layersBox,
    h("div", { class: "aw-pv-heading", text: "This item" }), summaryBox,
    h("div", { class: "aw-pv-heading", text: "Items" }),
    h("div", { class: "aw-pv-filters" }, labelFilter, h("label", {}, errorsOnly, " has errors")), listBox,
    h("div", { class: "aw-pv-heading", text: "Labels" }), legend);

  const canvas = h("canvas", { class: "aw-pv-canvas" });
  const message = h("div", { class: "aw-pv-message aw-muted" });
  const tip = h("div", { class: "aw-pv-tip" });
  const stage = h("div", { class: "aw-pv-stage" }, canvas, message, tip);
  const root = h("div", { class: "aw-root aw-preview", tabIndex: 0 }, toolbar, h("div", { class: "aw-pv-body" }, stage, side));
  el.append(root);
  const ctx = canvas.getContext("2d");

  // ---- state ----------------------------------------------------------------------------
  const vp = new Viewport();
  let shapes: Shapes = decodeShapes(model.get("shapes"));
  let bitmap: ImageBitmap | null = null;
  let imageSeq = 0;
  const maskCache = new Map<string, HTMLCanvasElement>();
  let viewW = 0, viewH = 0;
  let lastSize = "";
  let lastVisible: Uint8Array = new Uint8Array(0);
  let hover = -1;

  const item = () => model.get("item") ?? ({} as Item);
  const worldSize = (): [number, number] => {
    const it = item();
    if (bitmap) return [bitmap.width, bitmap.height];
    return [it.width || 640, it.height || 480];
  };

  // ---- drawing ----------------------------------------------------------------------------
  function visibility(): Uint8Array {
    const hidden = new Set(model.get("hidden_layers") ?? []);
    const layers = model.get("layers") ?? [];
    const hiddenIdx = layers.map((l) => hidden.has(l.key));
    const thr = model.get("score_threshold") ?? 0;
    const vis = new Uint8Array(shapes.n);
    for (let i = 0; i < shapes.n; i++) {
      if (hiddenIdx[shapes.layer[i]]) continue;
      const sc = shapes.score[i];
      if (layers[shapes.layer[i]]?.source === "prediction" && Number.isFinite(sc) && sc < thr) continue;
      vis[i] = 1;
    }
    return vis;
  }

  function styleFn(): (i: number) => Style {
    const labels = model.get("labels") ?? [];
    const layers = model.get("layers") ?? [];
    const byMatch = model.get("color_by") === "match";
    return (i: number) => {
      const pred = layers[shapes.layer[i]]?.source === "prediction";
      const st = shapes.status[i];
      const color = byMatch && st ? MATCH_COLORS[st] : labels[shapes.label[i]]?.color ?? NEUTRAL;
      return { color, dashed: pred };
    };
  }

  function draw(): void {
    if (!ctx || life.signal.aborted) return;
    const t0 = performance.now();
    const dpr = window.devicePixelRatio || 1;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, viewW, viewH);
    ctx.setTransform(dpr * vp.scale, 0, 0, dpr * vp.scale, dpr * vp.tx, dpr * vp.ty);
    const [W, H] = worldSize();
    if (bitmap) {
      ctx.imageSmoothingEnabled = vp.scale < 2;
      ctx.drawImage(bitmap, 0, 0);
    } else {
      ctx.fillStyle = "#3a3a3a";
      ctx.fillRect(0, 0, W, H);
    }
    lastVisible = visibility();
    if (hover >= shapes.n || (hover >= 0 && !lastVisible[hover])) hideTip();
    const drawn = drawShapes(ctx, shapes, { scale: vp.scale, visible: lastVisible, styleOf: styleFn(), maskCache, highlight: hover });
    root.dataset.drawn = String(drawn);
    root.dataset.scale = vp.scale.toFixed(4);
    root.dataset.tx = vp.tx.toFixed(1);
    root.dataset.ty = vp.ty.toFixed(1);
    zoomLabel.textContent = `${Math.round(vp.scale * 100)}%`;
    // Read by the browser tests (and handy when profiling): last frame's cost in ms.
    root.dataset.drawMs = (performance.now() - t0).toFixed(2);
  }
  const redraw = frameScheduler(life, draw);

  function refit(): void {
    const [W, H] = worldSize();
    vp.fit(W, H, viewW, viewH);
    redraw();
  }

  // ---- panels -------------------------------------------------------------------------------
  function renderItem(): void {
    const it = item();
    where.textContent = it.total ? `${it.position + 1} / ${it.total} · ${it.name ?? ""}` : "no items";
    prev.disabled = !it.total || it.position <= 0;
    next.disabled = !it.total || it.position >= it.total - 1;
    message.textContent = it.image_error ? `image: ${it.image_error}` : "";
    root.dataset.item = String(it.item_id ?? "");
    root.dataset.position = String(it.position ?? 0);
  }

  function renderLayers(): void {
    const layers = model.get("layers") ?? [];
    const hidden = new Set(model.get("hidden_layers") ?? []);
    const bySource = new Map<string, Layer[]>();
    for (const l of layers) {
      if (!bySource.has(l.source)) bySource.set(l.source, []);
      bySource.get(l.source)!.push(l);
    }
    const nodes: HTMLElement[] = [];
    for (const [source, ls] of bySource) {
      const all = h("input", { type: "checkbox", class: "aw-pv-source", "data-source": source });
      const shown = ls.filter((l) => !hidden.has(l.key)).length;
      all.checked = shown === ls.length;
      all.indeterminate = shown > 0 && shown < ls.length;
      all.addEventListener("change", () => setHidden(ls.map((l) => l.key), !all.checked), on);
      nodes.push(h("label", { class: "aw-pv-layer aw-pv-layer-source" }, all, ` ${source}s`));
      if (ls.length > 1 || ls[0].model_version) {
        for (const l of ls) {
          const cb = h("input", { type: "checkbox", class: "aw-pv-layer-toggle", "data-layer": l.key });
          cb.checked = !hidden.has(l.key);
          cb.addEventListener("change", () => setHidden([l.key], !cb.checked), on);
          nodes.push(h("label", { class: "aw-pv-layer aw-pv-layer-version" }, cb,
            ` ${l.model_version ?? "(no version)"}`, h("span", { class: "aw-muted", text: ` ${l.count}` })));
        }
      }
    }
    layersBox.replaceChildren(...nodes);
  }

  function setHidden(keys: string[], hide: boolean): void {
    const hidden = new Set(model.get("hidden_layers") ?? []);
    for (const k of keys) {
      if (hide) hidden.add(k);
      else hidden.delete(k);
    }
    model.set("hidden_layers", [...hidden].sort());
    model.save_changes();
  }

  function renderSummary(): void {
    const summary = model.get("summary") ?? {};
    const layers = model.get("layers") ?? [];
    const rows = Object.entries(summary).map(([key, c]) => {
      const name = layers.find((l) => l.key === key)?.model_version ?? key;
      return h("div", { class: "aw-pv-summary-row", "data-layer": key },
        h("span", { text: `${name}: ` }),
        h("span", { class: "aw-chip aw-pv-tp", text: `TP ${c.tp}` }), " ",
        h("span", { class: "aw-chip aw-pv-fp", text: `FP ${c.fp}` }), " ",
        h("span", { class: "aw-chip aw-pv-fn", text: `FN ${c.fn}` }));
    });
    summaryBox.replaceChildren(...(rows.length ? rows : [h("span", { class: "aw-muted", text: "no predictions to match" })]));
    const iou = model.get("iou_threshold");
    summaryBox.title = `greedy matching by score, per label, IoU ≥ ${iou}`;
  }

  function renderLabels(): void {
    const labels = model.get("labels") ?? [];
    legend.replaceChildren(...labels.map((l) =>
      h("span", { class: "aw-pv-legend-item" }, h("span", { class: "aw-pv-swatch", style: `background:${l.color}` }), ` ${l.name}`)));
    const current = model.get("label_filter") ?? "";
    labelFilter.replaceChildren(h("option", { value: "", text: "all labels" }),
      ...labels.map((l) => h("option", { value: l.name, text: l.name })));
    labelFilter.value = current;
  }

  function renderList(): void {
    const list = model.get("item_list") ?? { start: 0, total: 0, rows: [] };
    const pos = item().position ?? 0;
    const rows = list.rows.map(([id, name, errors], k) => {
      const row = h("div", { class: "aw-pv-row", "data-item": id },
        h("span", { class: "aw-pv-row-name", text: name || `#${id}` }),
        errors ? h("span", { class: "aw-chip aw-pv-fp", text: String(errors) }) : null);
      if (list.start + k === pos) row.classList.add("aw-pv-row-current");
      row.addEventListener("click", () => model.send({ kind: "goto_item", item_id: id }), on);
      return row;
    });
    if (!rows.length) rows.push(h("div", { class: "aw-muted", text: "no items match" }));
    listBox.replaceChildren(...rows);
    listBox.querySelector(".aw-pv-row-current")?.scrollIntoView({ block: "nearest" });
    errorsOnly.checked = !!model.get("errors_only");
  }

  // ---- input ----------------------------------------------------------------------------------
  function go(delta: number): void {
    const it = item();
    if (!it.total) return;
    const p = clamp((model.get("position") ?? 0) + delta, 0, it.total - 1);
    if (p === model.get("position")) return;
    model.set("position", p);
    model.save_changes();
  }

  prev.addEventListener("click", () => go(-1), on);
  nextError.addEventListener("click", () => model.send({ kind: "next_error", direction: 1 }), on);
  next.addEventListener("click", () => go(1), on);
  fit.addEventListener("click", refit, on);
  actual.addEventListener("click", () => {
    const [W, H] = worldSize();
    vp.actual(W, H, viewW, viewH);
    redraw();
  }, on);
  colorBy.addEventListener("change", () => {
    model.set("color_by", colorBy.value);
    model.save_changes();
  }, on);
  slider.addEventListener("input", () => {
    model.set("score_threshold", Number(slider.value));
    sliderValue.textContent = Number(slider.value).toFixed(2);
    redraw();
  }, on);
  // Matching is recomputed in Python, so only the released value goes over the wire.
  slider.addEventListener("change", () => model.save_changes(), on);
  labelFilter.addEventListener("change", () => {
    model.set("label_filter", labelFilter.value);
    model.save_changes();
  }, on);
  errorsOnly.addEventListener("change", () => {
    model.set("errors_only", errorsOnly.checked);
    model.save_changes();
  }, on);

  canvas.addEventListener("wheel", (e) => {
    e.preventDefault();
    vp.zoomAt(Math.exp(-e.deltaY * 0.0015), e.offsetX, e.offsetY);
    redraw();
  }, { signal: life.signal, passive: false });

  let drag: { id: number; x: number; y: number } | null = null;
  canvas.addEventListener("pointerdown", (e) => {
    root.focus({ preventScroll: true });
    drag = { id: e.pointerId, x: e.clientX, y: e.clientY };
    canvas.setPointerCapture(e.pointerId);
    canvas.classList.add("aw-pv-dragging");
  }, on);
  canvas.addEventListener("pointermove", (e) => {
    if (!drag || drag.id !== e.pointerId) return;
    vp.panBy(e.clientX - drag.x, e.clientY - drag.y);
    drag.x = e.clientX;
    drag.y = e.clientY;
    redraw();
  }, on);
  const endDrag = (e: PointerEvent) => {
    if (!drag || drag.id !== e.pointerId) return;
    drag = null;
    canvas.classList.remove("aw-pv-dragging");
  };
  canvas.addEventListener("pointerup", endDrag, on);

  // Hover: what is this shape? Label, layer, score and match outcome under the pointer.
  const STATUS = ["", "TP", "FP", "FN"];
  function hideTip(): void {
    hover = -1;
    tip.style.display = "none";
    root.dataset.hover = "";
  }
  canvas.addEventListener("pointermove", (e) => {
    if (drag) return;
    const [ix, iy] = vp.toImage(e.offsetX, e.offsetY);
    const i = hitTest(shapes, lastVisible, ix, iy, 3 / vp.scale);
    if (i === hover) return;
    if (i < 0) {
      hideTip();
      redraw();
      return;
    }
    hover = i;
    const layer = (model.get("layers") ?? [])[shapes.layer[i]];
    const label = (model.get("labels") ?? [])[shapes.label[i]]?.name ?? "(no label)";
    const sc = shapes.score[i];
    tip.textContent = [label, layer?.model_version ?? layer?.source ?? "",
      Number.isFinite(sc) ? `score ${sc.toFixed(2)}` : "", STATUS[shapes.status[i]] ?? "", `#${shapes.annId[i]}`]
      .filter(Boolean).join(" · ");
    tip.style.display = "block";
    tip.style.left = `${Math.min(e.offsetX + 12, Math.max(0, viewW - 220))}px`;
    tip.style.top = `${e.offsetY + 12}px`;
    root.dataset.hover = String(shapes.annId[i]);
    redraw();
  }, on);
  canvas.addEventListener("pointerleave", () => { if (hover >= 0) { hideTip(); redraw(); } }, on);
  canvas.addEventListener("pointercancel", endDrag, on);

  // Keys act only while the widget has focus, and never while typing in one of its inputs.
  root.addEventListener("keydown", (e) => {
    const t = e.target as HTMLElement;
    if (t !== root && t !== canvas) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const cx = viewW / 2, cy = viewH / 2;
    switch (e.key) {
      case "ArrowRight": go(1); break;
      case "ArrowLeft": go(-1); break;
      case "+": case "=": vp.zoomAt(1.25, cx, cy); redraw(); break;
      case "-": case "_": vp.zoomAt(0.8, cx, cy); redraw(); break;
      case "0": refit(); break;
      case "e": model.send({ kind: "next_error", direction: 1 }); break;
      case "E": model.send({ kind: "next_error", direction: -1 }); break;
      default: return;
    }
    e.preventDefault();
    e.stopPropagation();
  }, on);

  // ---- sizing ---------------------------------------------------------------------------------
  stage.style.height = `${model.get("height") || 520}px`;
  const resize = () => {
    const r = stage.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    viewW = Math.max(1, Math.round(r.width));
    viewH = Math.max(1, Math.round(r.height));
    canvas.width = Math.round(viewW * dpr);
    canvas.height = Math.round(viewH * dpr);
    canvas.style.width = `${viewW}px`;
    canvas.style.height = `${viewH}px`;
    if (vp.fitted) refit();
    else redraw();
  };
  const ro = new ResizeObserver(resize);
  ro.observe(stage);
  life.onDispose(() => ro.disconnect());

  // ---- model -> view ----------------------------------------------------------------------------
  async function loadImage(): Promise<void> {
    const seq = ++imageSeq;
    const bytes = model.get("image");
    let bmp: ImageBitmap | null = null;
    if (bytes && bytes.byteLength) {
      try {
        const copy = new Uint8Array(bytes.byteLength);
        copy.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
        bmp = await createImageBitmap(new Blob([copy]));
      } catch (err) {
        message.textContent = `image could not be decoded: ${err}`;
      }
    }
    if (seq !== imageSeq || life.signal.aborted) {
      bmp?.close();
      return;
    }
    bitmap?.close();
    bitmap = bmp;
    const [W, H] = worldSize();
    const size = `${W}x${H}`;
    if (vp.fitted || size !== lastSize) refit();
    else redraw();
    lastSize = size;
    root.dataset.image = bitmap ? size : "blank";
  }

  model.on("change:image", () => void loadImage());
  model.on("change:shapes", () => {
    shapes = decodeShapes(model.get("shapes"));
    hideTip();
    maskCache.clear();
    redraw();
  });
  model.on("change:item", () => {
    renderItem();
    renderList();
  });
  model.on("change:layers", () => { renderLayers(); redraw(); });
  model.on("change:hidden_layers", () => { renderLayers(); redraw(); });
  model.on("change:labels", () => { renderLabels(); maskCache.clear(); redraw(); });
  model.on("change:color_by", () => {
    colorBy.value = model.get("color_by");
    redraw();
  });
  model.on("change:score_threshold", () => {
    slider.value = String(model.get("score_threshold"));
    sliderValue.textContent = Number(model.get("score_threshold")).toFixed(2);
    redraw();
  });
  model.on("change:summary", renderSummary);
  model.on("change:item_list", renderList);
  model.on("change:label_filter", () => { labelFilter.value = model.get("label_filter") ?? ""; });
  model.on("change:errors_only", renderList);

  colorBy.value = model.get("color_by") ?? "label";
  slider.value = String(model.get("score_threshold") ?? 0);
  sliderValue.textContent = Number(model.get("score_threshold") ?? 0).toFixed(2);
  renderItem();
  renderLayers();
  renderSummary();
  renderLabels();
  renderList();
  void loadImage();

  return () => life.dispose();
}

export default { render } satisfies AnyWidget<PreviewModel>;
export type { Model };
