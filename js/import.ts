// ImportForm: what to import (annotations, or a dataset into a project), format (auto-detect
// offered), the input (a file dropped or picked, uploaded in binary chunks, or a URL); Import
// starts a request in Python, the view polls its progress and then shows Python's summary.
import type { AnyWidget, RenderProps } from "@anywidget/types";
import "./import.css";
import { h } from "./ui/dom";
import { viewLife } from "./ui/lifecycle";
import { ACTIVE, type ModelLike, type RequestSnap, boundCheckbox, boundRadios, boundSelect, boundText, field, formatBytes, pollWhileActive, progressBar } from "./ui/form";
import { type UploadState, uploadFile } from "./ui/transfer";

interface Upload { id?: string; name?: string; size?: number; received?: number; status?: string }
interface Summary { status?: string; imported?: string[]; rejected?: { what: string; reason: string }[] }

export interface ImportModel {
  node: { level: string; id: number; name: string; project: string };
  modes: string[];
  mode: string;
  formats: { name: string; family: string; note: string }[];
  format: string;
  to_polygons: boolean;
  source: string;
  url: string;
  storage: string;
  storages: { name: string; url: string }[];
  upload: Upload;
  detected: string;
  chunk_size: number;
  summary: Summary;
  request: RequestSnap;
  poll_interval: number;
  error: string;
}

const MODE_TEXT: Record<string, string> = { annotations: "Annotations (replace this node's)", dataset: "Dataset (new tasks)" };

function render({ model, el, signal }: RenderProps<ImportModel>) {
  const life = viewLife(signal);
  const m = model as unknown as ModelLike;
  const on = { signal: life.signal } as const;

  const title = h("div", { class: "aw-form-title" });
  const mode = boundRadios(m, life, "mode", "aw-if-mode", () => (model.get("modes") ?? []).map((x): [string, string] => [x, MODE_TEXT[x] ?? x]));
  const fmt = boundSelect(m, life, "format", "aw-if-format", () => {
    const d = model.get("detected");
    const auto = d && model.get("source") === "upload" ? `Auto-detect (${d})` : "Auto-detect";
    return [["", auto], ...(model.get("formats") ?? []).map((f): [string, string] => [f.name, f.name])];
  });
  const toPolygons = boundCheckbox(m, life, "to_polygons", "aw-if-polygons", "Convert masks to polygons");
  const source = boundRadios(m, life, "source", "aw-if-source", () => [["upload", "Upload a file"], ["url", "URL / cloud"]]);

  const fileInput = h("input", { type: "file", class: "aw-if-file", hidden: true });
  const pick = h("button", { class: "aw-btn aw-if-pick", text: "Choose file…" });
  const drop = h("div", { class: "aw-if-drop", tabIndex: 0 }, h("span", { text: "Drop a file here, or " }), pick, fileInput);
  const uploadBar = progressBar("aw-if-upload-progress");
  const abortBtn = h("button", { class: "aw-btn aw-if-abort", text: "Stop upload" });
  const uploadBox = h("div", { class: "aw-if-upload" }, drop, h("div", { class: "aw-toolbar" }, uploadBar.el, abortBtn));

  const url = boundText(m, life, "url", "aw-if-url", "s3://bucket/annotations.zip or /path/to/file");
  const storage = boundSelect(m, life, "storage", "aw-if-storage", () => [["", "(no attached storage)"], ...(model.get("storages") ?? []).map((s): [string, string, string] => [s.name, s.name, s.url])]);
  const urlBox = h("div", { class: "aw-if-urlbox" }, field("URL", url), field("Storage", storage.el));

  const importBtn = h("button", { class: "aw-btn aw-btn-primary aw-if-import", text: "Import" });
  const cancelBtn = h("button", { class: "aw-btn aw-if-cancel", text: "Cancel" });
  const progress = progressBar("aw-if-progress");
  const error = h("div", { class: "aw-error aw-if-error" });
  const summary = h("div", { class: "aw-if-summary" });

  const root = h("div", { class: "aw-root aw-form aw-import" },
    title, field("Import", mode.el), field("Format", fmt.el), field("", toPolygons), field("From", source.el), uploadBox, urlBox,
    h("div", { class: "aw-toolbar" }, importBtn, cancelBtn), progress.el, error, summary);
  el.append(root);

  // -- upload ----------------------------------------------------------------------------------
  let abort: (() => void) | null = null;
  const showUpload = (s: UploadState) => {
    uploadBar.show(true);
    const text = s.error ? `${s.name}: ${s.error}` : `${s.name} · ${formatBytes(s.acked)} of ${formatBytes(s.size)}${s.done ? " · uploaded" : ""}`;
    uploadBar.update(s.size ? s.acked / s.size : 1, text);
    abortBtn.hidden = s.done || Boolean(s.error);
    root.dataset.upload = s.error ? "error" : s.done ? "complete" : "sending";
    renderButtons();
  };
  const start = (file: File | undefined | null) => {
    if (!file) return;
    abort?.();
    error.textContent = "";
    abort = uploadFile(m, life, file, showUpload);
  };
  pick.addEventListener("click", (e) => { e.preventDefault(); fileInput.click(); }, on);
  fileInput.addEventListener("change", () => { start(fileInput.files?.[0]); fileInput.value = ""; }, on);
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("aw-if-over"); }, on);
  drop.addEventListener("dragleave", () => drop.classList.remove("aw-if-over"), on);
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("aw-if-over");
    start(e.dataTransfer?.files?.[0]);
  }, on);
  abortBtn.addEventListener("click", () => { abort?.(); abort = null; uploadBar.update(0, "upload stopped"); abortBtn.hidden = true; }, on);
  life.onDispose(() => abort?.());

  importBtn.addEventListener("click", () => { error.textContent = ""; model.send({ kind: "start" }); }, on);
  cancelBtn.addEventListener("click", () => model.send({ kind: "cancel" }), on);

  // -- rendering from the traits --------------------------------------------------------------------
  function renderHeader(): void {
    const n = model.get("node");
    title.textContent = `Import into ${n.level} #${n.id}: ${n.name}`;
    mode.el.closest(".aw-field")?.toggleAttribute("hidden", (model.get("modes") ?? []).length < 2);
  }

  function renderSource(): void {
    const s = model.get("source");
    uploadBox.hidden = s !== "upload";
    urlBox.hidden = s !== "url";
    renderButtons();
  }

  function renderUploadTrait(): void {
    const u = model.get("upload") ?? {};
    root.dataset.uploaded = u.status === "complete" ? `${u.name}:${u.size}` : "";
    if (u.status === "complete" && !abort) {
      uploadBar.show(true);
      uploadBar.update(1, `${u.name} · ${formatBytes(u.size ?? 0)} · uploaded`);
    }
    renderButtons();
  }

  function renderButtons(): void {
    const r = model.get("request") ?? {};
    const active = ACTIVE.has(r.status ?? "");
    const ready = model.get("source") === "url" ? Boolean((model.get("url") ?? "").trim()) : model.get("upload")?.status === "complete";
    importBtn.disabled = active || !ready;
    cancelBtn.hidden = !active;
  }

  function renderRequest(): void {
    const r = model.get("request") ?? {};
    root.dataset.status = r.status ?? "";
    progress.show(Boolean(r.status));
    progress.update(r.progress ?? 0, `${r.status ?? ""}${r.message ? `: ${r.message}` : ""}`);
    renderButtons();
  }

  function renderSummary(): void {
    const s = model.get("summary") ?? {};
    if (!s.status) { summary.replaceChildren(); return; }
    const rejected = s.rejected ?? [];
    const parts: Node[] = [
      h("div", { class: "aw-if-summary-title", text: s.status === "finished" ? "Imported" : `Import ${s.status}` }),
      h("ul", { class: "aw-if-imported" }, ...(s.imported ?? []).map((t) => h("li", { text: t }))),
    ];
    if (rejected.length) {
      parts.push(h("div", { class: "aw-if-summary-title aw-error", text: "Rejected" }),
        h("ul", { class: "aw-if-rejected" }, ...rejected.map((x) => h("li", {}, h("b", { text: `${x.what}: ` }), x.reason))));
    }
    summary.replaceChildren(...parts);
  }

  function renderError(): void {
    error.textContent = model.get("error") ?? "";
    error.hidden = !model.get("error");
  }

  const poll = pollWhileActive(m, life);
  model.on("change:node", renderHeader);
  model.on("change:modes", () => { mode.refresh(); renderHeader(); });
  model.on("change:formats", fmt.refresh);
  model.on("change:detected", fmt.refresh);
  model.on("change:storages", storage.refresh);
  model.on("change:source", () => { renderSource(); fmt.refresh(); });
  model.on("change:url", renderButtons);
  model.on("change:upload", renderUploadTrait);
  model.on("change:request", renderRequest);
  model.on("change:summary", renderSummary);
  model.on("change:error", renderError);
  uploadBar.show(false);
  abortBtn.hidden = true;
  renderHeader(); renderSource(); renderUploadTrait(); renderRequest(); renderSummary(); renderError();
  poll();
  return () => life.dispose();
}

export default { render } satisfies AnyWidget<ImportModel>;
