// ExportForm: format (only those that fit), annotations vs dataset, custom name, target; Export
// starts a request in Python, the view polls its progress, then shows the result and a download.
import type { AnyWidget, RenderProps } from "@anywidget/types";
import "./export.css";
import { h } from "./ui/dom";
import { viewLife } from "./ui/lifecycle";
import { ACTIVE, type ModelLike, type RequestSnap, boundRadios, boundSelect, boundText, field, formatBytes, pollWhileActive, progressBar } from "./ui/form";
import { receiveFiles } from "./ui/transfer";

interface Fmt { name: string; family: string; lost: string[]; note: string }

export interface ExportModel {
  node: { level: string; id: number; name: string; project: string };
  holding: { items: number; types: Record<string, number>; sources: Record<string, number>; tracks: boolean };
  formats: Fmt[];
  format: string;
  save_images: boolean;
  name: string;
  default_name: string;
  location: string;
  target: string;
  storage: string;
  storages: { name: string; url: string }[];
  default_target: string;
  request: RequestSnap;
  poll_interval: number;
  error: string;
}

const LOCATIONS: [string, string][] = [["default", "Project default"], ["local", "Local folder"], ["url", "Cloud URL"], ["storage", "Attached storage"]];

function render({ model, el, signal }: RenderProps<ExportModel>) {
  const life = viewLife(signal);
  const m = model as unknown as ModelLike;
  const on = { signal: life.signal } as const;

  const title = h("div", { class: "aw-form-title" });
  const holding = h("div", { class: "aw-muted aw-ef-holding" });
  const kind = boundRadios(m, life, "save_images", "aw-ef-kind", () => [[false, "Annotations"], [true, "Dataset (with images)"]]);
  const fmt = boundSelect(m, life, "format", "aw-ef-format", () => (model.get("formats") ?? []).map((f) => [f.name, f.lost.length ? `${f.name} — loses ${f.lost.join(", ")}` : f.name, f.note]));
  const fmtNote = h("div", { class: "aw-muted aw-ef-note" });
  const name = boundText(m, life, "name", "aw-ef-name");
  const defName = h("div", { class: "aw-muted aw-ef-default-name" });
  const loc = boundSelect(m, life, "location", "aw-ef-location", () => LOCATIONS.map(([v, t]) => [v, t]));
  const target = boundText(m, life, "target", "aw-ef-target");
  const storage = boundSelect(m, life, "storage", "aw-ef-storage", () => [["", "(choose)"], ...(model.get("storages") ?? []).map((s): [string, string, string] => [s.name, s.name, s.url])]);
  const where = h("div", { class: "aw-muted aw-ef-where" });

  const exportBtn = h("button", { class: "aw-btn aw-btn-primary aw-ef-export", text: "Export" });
  const cancelBtn = h("button", { class: "aw-btn aw-ef-cancel", text: "Cancel" });
  const progress = progressBar("aw-ef-progress");
  const error = h("div", { class: "aw-error aw-ef-error" });
  const resultPath = h("code", { class: "aw-ef-result-path" });
  const downloadBtn = h("button", { class: "aw-btn aw-ef-download", text: "Download" });
  const downloaded = h("span", { class: "aw-muted aw-ef-downloaded" });
  const lost = h("div", { class: "aw-warn aw-ef-lost" });
  const result = h("div", { class: "aw-ef-result" }, h("span", { text: "Result: " }), resultPath, " ", downloadBtn, " ", downloaded, lost);

  const root = h("div", { class: "aw-root aw-form aw-export" },
    title, holding,
    field("Export", kind.el),
    field("Format", fmt.el), fmtNote,
    field("Name", name), defName,
    field("Target", loc.el, target, storage.el), where,
    h("div", { class: "aw-toolbar" }, exportBtn, cancelBtn),
    progress.el, error, result);
  el.append(root);

  exportBtn.addEventListener("click", () => { error.textContent = ""; model.send({ kind: "export" }); }, on);
  cancelBtn.addEventListener("click", () => model.send({ kind: "cancel" }), on);
  downloadBtn.addEventListener("click", () => {
    downloaded.textContent = "preparing…";
    model.send({ kind: "download", token: Math.random().toString(36).slice(2) });
  }, on);
  receiveFiles(m, life, root, (fname, bytes) => {
    downloaded.textContent = `${fname} (${formatBytes(bytes)}) downloaded`;
    root.dataset.downloaded = `${fname}:${bytes}`;
  });

  function renderHeader(): void {
    const n = model.get("node");
    title.textContent = `Export ${n.level} #${n.id}: ${n.name}`;
    const hd = model.get("holding") ?? { items: 0, types: {}, sources: {}, tracks: false };
    const types = Object.entries(hd.types ?? {}).map(([k, v]) => `${v} ${k}`).join(", ");
    holding.textContent = `Project ${n.project} · ${hd.items} items · ${types || "no annotations"}${hd.tracks ? " · tracks" : ""}`;
  }

  function renderFormatNote(): void {
    const f = (model.get("formats") ?? []).find((x) => x.name === model.get("format"));
    fmtNote.textContent = f?.note ?? (model.get("formats")?.length ? "" : "No format fits what this node holds.");
    fmtNote.classList.toggle("aw-warn", Boolean(f?.lost.length));
  }

  function renderName(): void {
    const d = model.get("default_name");
    name.placeholder = d;
    defName.textContent = `Default: ${d}`;
  }

  function renderTarget(): void {
    const l = model.get("location");
    target.hidden = l === "default";
    storage.el.hidden = l !== "storage";
    target.placeholder = l === "local" ? "/path/to/folder" : l === "url" ? "s3://bucket/exports" : "path inside the storage (optional)";
    where.textContent = l === "default" ? `Goes to ${model.get("default_target")}` : "";
  }

  function renderRequest(): void {
    const r = model.get("request") ?? {};
    const active = ACTIVE.has(r.status ?? "");
    root.dataset.status = r.status ?? "";
    exportBtn.disabled = active || !model.get("format");
    cancelBtn.hidden = !active;
    progress.show(Boolean(r.status));
    progress.update(r.progress ?? 0, `${r.status ?? ""}${r.message ? `: ${r.message}` : ""}`);
    const done = r.status === "finished" && r.result;
    result.hidden = !done;
    if (done) resultPath.textContent = String(r.result);
    lost.textContent = done && r.lost ? `Not in the archive: ${r.lost}` : "";
  }

  function renderError(): void {
    error.textContent = model.get("error") ?? "";
    error.hidden = !model.get("error");
  }

  const poll = pollWhileActive(m, life);
  model.on("change:node", renderHeader);
  model.on("change:holding", renderHeader);
  model.on("change:formats", () => { fmt.refresh(); renderFormatNote(); renderRequest(); });
  model.on("change:format", () => { renderFormatNote(); renderRequest(); });
  model.on("change:default_name", renderName);
  model.on("change:location", renderTarget);
  model.on("change:default_target", renderTarget);
  model.on("change:storages", storage.refresh);
  model.on("change:request", renderRequest);
  model.on("change:error", renderError);
  renderHeader(); renderFormatNote(); renderName(); renderTarget(); renderRequest(); renderError();
  poll();
  return () => life.dispose();
}

export default { render } satisfies AnyWidget<ExportModel>;
