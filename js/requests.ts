// RequestsPanel: every export/import request with status, progress, age and result; cancel,
// download, and a notification when one ends. Python reads the workspace; this view asks it to
// refresh every poll_interval seconds while anything is queued or running.
import type { AnyWidget, RenderProps } from "@anywidget/types";
import "./requests.css";
import { age, h } from "./ui/dom";
import { viewLife } from "./ui/lifecycle";
import { receiveFiles } from "./ui/transfer";

interface Row {
  id: string;
  operation: string;
  level: string;
  target_id: number | null;
  format: string;
  location: string;
  status: string;
  progress: number;
  message: string;
  result: string | null;
  created: string | null;
  age_s: number | null;
}

export interface RequestsModel {
  requests: Row[];
  poll_interval: number;
  idle_interval: number;
  max_rows: number;
}

const ACTIVE = new Set(["queued", "started"]);

function render({ model, el, signal }: RenderProps<RequestsModel>) {
  const life = viewLife(signal);
  const on = { signal: life.signal } as const;

  const refreshBtn = h("button", { class: "aw-btn aw-rq-refresh", text: "Refresh" });
  const counts = h("span", { class: "aw-muted aw-rq-counts" });
  const body = h("tbody");
  const table = h("table", { class: "aw-table aw-rq-table" },
    h("thead", {}, h("tr", {}, ...["Request", "Target", "Format", "Status", "Progress", "Age", "Result / message", ""]
      .map((t) => h("th", { text: t })))), body);
  const toasts = h("div", { class: "aw-rq-toasts" });
  const root = h("div", { class: "aw-root aw-requests" }, h("div", { class: "aw-toolbar" }, refreshBtn, counts), toasts, table);
  el.append(root);

  refreshBtn.addEventListener("click", () => model.send({ kind: "refresh" }), on);

  function renderRows(): void {
    const rows = model.get("requests") ?? [];
    const active = rows.filter((r) => ACTIVE.has(r.status)).length;
    counts.textContent = `${rows.length} request${rows.length === 1 ? "" : "s"}${active ? `, ${active} active` : ""}`;
    root.dataset.active = String(active);
    root.dataset.rows = String(rows.length);
    body.replaceChildren(...rows.map((r) => {
      const bar = h("span", { class: "aw-progress" }, h("span", { style: `width:${Math.round(100 * r.progress)}%` }));
      const actions: HTMLElement[] = [];
      if (ACTIVE.has(r.status)) {
        const b = h("button", { class: "aw-btn aw-rq-cancel", text: "Cancel", title: "Stop it; an import changes nothing" });
        b.addEventListener("click", () => model.send({ kind: "cancel", id: r.id }), on);
        actions.push(b);
      }
      if (r.status === "finished" && r.result && r.operation.startsWith("export")) {
        const b = h("button", { class: "aw-btn aw-rq-download", text: "Download" });
        b.addEventListener("click", () => model.send({ kind: "download", id: r.id }), on);
        actions.push(b);
      }
      const detail = r.status === "finished" && r.result ? r.result : r.message;
      return h("tr", { class: `aw-rq-row aw-rq-${r.status}`, "data-id": r.id },
        h("td", { title: r.id }, `${r.operation} `, h("span", { class: "aw-muted", text: r.id.slice(0, 8) })),
        h("td", { text: `${r.level} ${r.target_id ?? ""}` }),
        h("td", { text: r.format }),
        h("td", {}, h("span", { class: `aw-chip aw-rq-status aw-rq-status-${r.status}`, text: r.status })),
        h("td", {}, bar, h("span", { class: "aw-muted", text: ` ${Math.round(100 * r.progress)}%` })),
        h("td", { text: r.age_s == null ? "" : age(r.age_s) }),
        h("td", { class: "aw-rq-detail", title: detail ?? "", text: detail ?? "" }),
        h("td", {}, ...actions));
    }));
    schedulePoll(active > 0);
  }

  // Poll every poll_interval while something is active, else every idle_interval (0: not at all),
  // so requests started from code or another kernel show up too; the timer dies with the view.
  let timer = 0;
  function schedulePoll(active: boolean): void {
    if (timer) clearTimeout(timer);
    timer = 0;
    const idle = model.get("idle_interval") ?? 0;
    if ((!active && !(idle > 0)) || life.signal.aborted) return;
    const ms = Math.max(200, 1000 * (active ? model.get("poll_interval") || 1 : idle));
    timer = window.setTimeout(() => {
      timer = 0;
      model.send({ kind: "refresh" });
    }, ms);
  }
  life.onDispose(() => { if (timer) clearTimeout(timer); });

  function toast(text: string, kind: string): void {
    const t = h("div", { class: `aw-rq-toast aw-rq-toast-${kind}`, text });
    toasts.append(t);
    const id = window.setTimeout(() => t.remove(), 8000);
    life.onDispose(() => clearTimeout(id));
  }

  model.on("msg:custom", (msg: { kind: string; [k: string]: unknown }, buffers: DataView[]) => {
    if (msg.kind === "notify") toast(String(msg.text), String(msg.status));
    else if (msg.kind === "error") toast(String(msg.message), "failed");
  });
  // downloads arrive as file_chunk messages, joined into one Blob (shared with the export form)
  receiveFiles(model, life, root, (name, bytes) => { root.dataset.downloaded = `${name}:${bytes}`; });
  model.on("change:requests", renderRows);
  renderRows();
  return () => life.dispose();
}

export default { render } satisfies AnyWidget<RequestsModel>;
