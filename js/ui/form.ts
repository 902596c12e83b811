// Form controls bound to synced traits: a control writes its trait (set + save_changes) on user
// input and follows the trait when Python changes it. Shared by the export and import forms.
import { h } from "./dom";
import type { ViewLife } from "./lifecycle";

/** The narrow model proxy anywidget hands to render (get/set/save_changes/send/on). */
export interface ModelLike {
  get(key: string): any;
  set(key: string, value: unknown): void;
  save_changes(): void;
  send(content: unknown, callbacks?: unknown, buffers?: ArrayBuffer[] | ArrayBufferView[]): void;
  on(event: string, cb: (...args: any[]) => void): void;
  off(event?: string | null, cb?: ((...args: any[]) => void) | null): void;
}

export interface RequestSnap {
  id?: string;
  status?: string;
  progress?: number;
  message?: string;
  result?: string | null;
  file_name?: string;
  lost?: string;
}

export const ACTIVE = new Set(["queued", "started"]);

export function setTrait(model: ModelLike, key: string, value: unknown): void {
  model.set(key, value);
  model.save_changes();
}

/** A labelled row of the form: `<label>` text, then the control(s). */
export function field(label: string, ...controls: (Node | string)[]): HTMLElement {
  return h("div", { class: "aw-field" }, h("span", { class: "aw-field-label", text: label }), h("span", { class: "aw-field-controls" }, ...controls));
}

/** A labelled checkbox bound to a boolean trait. */
export function boundCheckbox(model: ModelLike, life: ViewLife, key: string, cls: string, text: string): HTMLElement {
  const box = h("input", { type: "checkbox", class: cls });
  box.checked = Boolean(model.get(key));
  box.addEventListener("change", () => setTrait(model, key, box.checked), { signal: life.signal });
  model.on(`change:${key}`, () => { box.checked = Boolean(model.get(key)); });
  return h("label", { class: "aw-check" }, box, text);
}

/** A <select> bound to a string trait; `options()` gives [value, text, title?] triples. */
export function boundSelect(model: ModelLike, life: ViewLife, key: string, cls: string,
  options: () => [string, string, string?][]): { el: HTMLSelectElement; refresh: () => void } {
  const el = h("select", { class: `aw-select ${cls}` });
  const refresh = () => {
    const cur = String(model.get(key) ?? "");
    el.replaceChildren(...options().map(([v, text, title]) => h("option", { value: v, text, title: title ?? "", selected: v === cur })));
    el.value = cur;
  };
  el.addEventListener("change", () => setTrait(model, key, el.value), { signal: life.signal });
  model.on(`change:${key}`, () => { el.value = String(model.get(key) ?? ""); });
  refresh();
  return { el, refresh };
}

/** A text <input> bound to a string trait (written on every edit; not overwritten while focused). */
export function boundText(model: ModelLike, life: ViewLife, key: string, cls: string, placeholder = ""): HTMLInputElement {
  const el = h("input", { type: "text", class: `aw-input ${cls}`, placeholder, spellcheck: false });
  el.value = String(model.get(key) ?? "");
  el.addEventListener("input", () => setTrait(model, key, el.value), { signal: life.signal });
  model.on(`change:${key}`, () => {
    const v = String(model.get(key) ?? "");
    if (el.value !== v && document.activeElement !== el) el.value = v;
  });
  return el;
}

/** Radio buttons bound to a trait (string or bool values); returns the group and a rebuild function. */
export function boundRadios(model: ModelLike, life: ViewLife, key: string, cls: string,
  choices: () => [string | boolean, string][]): { el: HTMLElement; refresh: () => void } {
  const el = h("span", { class: `aw-radios ${cls}` });
  const name = `aw-${key}-${Math.random().toString(36).slice(2, 9)}`;
  const sync = () => {
    const cur = String(model.get(key));
    el.querySelectorAll("input").forEach((i) => { (i as HTMLInputElement).checked = (i as HTMLInputElement).value === cur; });
  };
  const refresh = () => {
    el.replaceChildren(...choices().map(([v, text]) => {
      const input = h("input", { type: "radio", name, value: String(v) });
      input.addEventListener("change", () => { if (input.checked) setTrait(model, key, v); }, { signal: life.signal });
      return h("label", { class: "aw-radio", "data-value": String(v) }, input, ` ${text}`);
    }));
    sync();
  };
  model.on(`change:${key}`, sync);
  refresh();
  return { el, refresh };
}

/** A progress bar with a message: `update(fraction, text)`; hidden with `show(false)`. */
export function progressBar(cls: string): { el: HTMLElement; update: (f: number, text: string) => void; show: (on: boolean) => void } {
  const fill = h("span");
  const text = h("span", { class: "aw-muted aw-progress-text" });
  const el = h("div", { class: `aw-progress-row ${cls}` }, h("span", { class: "aw-progress aw-progress-wide" }, fill), text);
  return {
    el,
    update: (f, t) => {
      const pct = Math.round(100 * Math.min(1, Math.max(0, f || 0)));
      fill.style.width = `${pct}%`;
      el.dataset.percent = String(pct);
      text.textContent = `${pct}%${t ? ` · ${t}` : ""}`;
    },
    show: (on) => { el.hidden = !on; },
  };
}

/** Poll Python (`{kind: "poll"}`) every `poll_interval` s while the request trait is active. */
export function pollWhileActive(model: ModelLike, life: ViewLife): () => void {
  let timer = 0;
  const schedule = () => {
    if (timer) clearTimeout(timer);
    timer = 0;
    const req = (model.get("request") ?? {}) as RequestSnap;
    if (!ACTIVE.has(req.status ?? "") || life.signal.aborted) return;
    // keep polling by ourselves: an unchanged snapshot sends no update, so no change event would come
    timer = window.setTimeout(() => { timer = 0; model.send({ kind: "poll" }); schedule(); }, Math.max(50, 1000 * (model.get("poll_interval") || 0.5)));
  };
  life.onDispose(() => { if (timer) clearTimeout(timer); });
  model.on("change:request", schedule);
  return schedule;
}

export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return "";
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
