// HierarchyBrowser: projects -> tasks -> jobs with counts; select a node (click or keys) and
// run one of its level's actions. Python reads the workspace and handles the actions.
import type { AnyWidget, RenderProps } from "@anywidget/types";
import "./hierarchy.css";
import { h } from "./ui/dom";
import { viewLife } from "./ui/lifecycle";

type Counts = Record<string, number>;
interface JobNode { id: number; start: number; stop: number; items: number; annotations: Counts }
interface TaskNode { id: number; name: string; subset: string; mode: string; size: number; items: number; annotations: Counts; labels: number; jobs: JobNode[] }
interface ProjectNode { id: number; name: string; labels: number; tasks: TaskNode[] }
interface Selected { level?: string; id?: number }

export interface HierarchyModel {
  tree: ProjectNode[];
  selected: Selected;
  expanded: string[];
  actions: Record<string, string[]>;
  status: string;
}

interface Line { key: string; level: string; id: number; depth: number; parent: string | null; hasChildren: boolean; node: ProjectNode | TaskNode | JobNode }

const LABELS: Record<string, string> = {
  export_dataset: "Export dataset",
  export_annotations: "Export annotations",
  import_dataset: "Import dataset",
  import_annotations: "Upload annotations",
  preview: "Preview",
};

function annText(c: Counts): string {
  const parts = Object.entries(c ?? {}).map(([src, n]) => `${n} ${src}${n === 1 ? "" : "s"}`);
  return parts.length ? parts.join(", ") : "no annotations";
}

function render({ model, el, signal }: RenderProps<HierarchyModel>) {
  const life = viewLife(signal);
  const on = { signal: life.signal } as const;
  const refresh = h("button", { class: "aw-btn aw-hb-refresh", text: "Refresh" });
  const list = h("div", { class: "aw-hb-tree", role: "tree" });
  const actionsBox = h("div", { class: "aw-hb-actions aw-toolbar" });
  const status = h("div", { class: "aw-muted aw-hb-status" });
  const root = h("div", { class: "aw-root aw-hierarchy", tabIndex: 0 }, h("div", { class: "aw-toolbar" }, refresh), list, actionsBox, status);
  el.append(root);
  refresh.addEventListener("click", () => model.send({ kind: "refresh" }), on);

  let lines: Line[] = [];
  const keyOf = (s: Selected) => (s && s.level ? `${s.level}:${s.id}` : "");

  function flatten(): Line[] {
    const open = new Set(model.get("expanded") ?? []);
    const out: Line[] = [];
    for (const p of model.get("tree") ?? []) {
      const pk = `project:${p.id}`;
      out.push({ key: pk, level: "project", id: p.id, depth: 0, parent: null, hasChildren: p.tasks.length > 0, node: p });
      if (!open.has(pk)) continue;
      for (const t of p.tasks) {
        const tk = `task:${t.id}`;
        out.push({ key: tk, level: "task", id: t.id, depth: 1, parent: pk, hasChildren: t.jobs.length > 0, node: t });
        if (!open.has(tk)) continue;
        for (const j of t.jobs) out.push({ key: `job:${j.id}`, level: "job", id: j.id, depth: 2, parent: tk, hasChildren: false, node: j });
      }
    }
    return out;
  }

  function describe(l: Line): [string, string] {
    if (l.level === "project") {
      const p = l.node as ProjectNode;
      return [p.name, `${p.tasks.length} task${p.tasks.length === 1 ? "" : "s"} · ${p.labels} labels`];
    }
    if (l.level === "task") {
      const t = l.node as TaskNode;
      return [`${t.name}${t.subset ? ` (${t.subset})` : ""}`, `${t.items} items · ${annText(t.annotations)} · ${t.labels} labels · ${t.jobs.length} jobs`];
    }
    const j = l.node as JobNode;
    return [`Job #${j.id}`, `frames ${j.start}–${j.stop} · ${j.items} items · ${annText(j.annotations)}`];
  }

  function toggle(key: string): void {
    const open = new Set(model.get("expanded") ?? []);
    if (open.has(key)) open.delete(key);
    else open.add(key);
    model.set("expanded", [...open]);
    model.save_changes();
  }

  function select(l: Line): void {
    model.set("selected", { level: l.level, id: l.id });
    model.save_changes();
  }

  function renderTree(): void {
    lines = flatten();
    const sel = keyOf(model.get("selected"));
    const open = new Set(model.get("expanded") ?? []);
    list.replaceChildren(...lines.map((l) => {
      const [name, info] = describe(l);
      const twisty = h("span", { class: "aw-hb-twisty", text: l.hasChildren ? (open.has(l.key) ? "▾" : "▸") : "" });
      twisty.addEventListener("click", (e) => { e.stopPropagation(); if (l.hasChildren) toggle(l.key); }, on);
      const row = h("div", { class: `aw-hb-row aw-hb-${l.level}`, role: "treeitem", "data-key": l.key, style: `padding-left:${4 + 18 * l.depth}px` },
        twisty, h("span", { class: "aw-hb-name", text: name }), h("span", { class: "aw-muted aw-hb-info", text: info }));
      if (l.key === sel) row.classList.add("aw-hb-selected");
      row.addEventListener("click", () => { root.focus({ preventScroll: true }); select(l); }, on);
      row.addEventListener("dblclick", () => { if (l.hasChildren) toggle(l.key); }, on);
      return row;
    }));
    if (!lines.length) list.append(h("div", { class: "aw-muted", text: "The workspace has no projects yet." }));
    root.dataset.rows = String(lines.length);
    root.dataset.selected = sel;
    renderActions();
  }

  function renderActions(): void {
    const sel = model.get("selected") ?? {};
    const names = sel.level ? model.get("actions")?.[sel.level] ?? [] : [];
    actionsBox.replaceChildren(...names.map((a) => {
      const b = h("button", { class: "aw-btn aw-hb-action", "data-action": a, text: LABELS[a] ?? a });
      b.addEventListener("click", () => model.send({ kind: "action", action: a, level: sel.level, id: sel.id }), on);
      return b;
    }));
    if (!names.length) actionsBox.append(h("span", { class: "aw-muted", text: "Select a project, task or job." }));
  }

  // ↑/↓ move the selection, →/← open/close (or go to the parent), Enter runs the first action.
  root.addEventListener("keydown", (e) => {
    if (e.target !== root || e.ctrlKey || e.metaKey || e.altKey) return;
    const sel = keyOf(model.get("selected"));
    const i = lines.findIndex((l) => l.key === sel);
    const cur = lines[i];
    const open = new Set(model.get("expanded") ?? []);
    switch (e.key) {
      case "ArrowDown": if (lines.length) select(lines[Math.min(lines.length - 1, i + 1)]); break;
      case "ArrowUp": if (lines.length) select(lines[Math.max(0, i - 1)]); break;
      case "ArrowRight": if (cur?.hasChildren && !open.has(cur.key)) toggle(cur.key); break;
      case "ArrowLeft":
        if (cur && open.has(cur.key)) toggle(cur.key);
        else if (cur?.parent) { const p = lines.find((l) => l.key === cur.parent); if (p) select(p); }
        break;
      case "Enter": (actionsBox.querySelector(".aw-hb-action") as HTMLButtonElement | null)?.click(); break;
      default: return;
    }
    e.preventDefault();
    e.stopPropagation();
  }, on);

  model.on("change:tree", renderTree);
  model.on("change:expanded", renderTree);
  model.on("change:selected", renderTree);
  model.on("change:actions", renderActions);
  model.on("change:status", () => { status.textContent = model.get("status") ?? ""; });
  status.textContent = model.get("status") ?? "";
  renderTree();
  return () => life.dispose();
}

export default { render } satisfies AnyWidget<HierarchyModel>;
