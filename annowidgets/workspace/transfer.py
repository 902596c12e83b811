"""Export and import at job, task and project level, as CVAT does them.

Exports build the scope's :class:`Dataset` and hand it to the format registry, which
stages the archive under a temporary name and renames it into place. Imports read the
whole input first (no lock held), then change the database in ONE transaction: a failure,
a cancel or a killed process leaves the workspace exactly as it was.
"""
from __future__ import annotations

import copy
import datetime as _dt
import os
import posixpath
import shutil
import tempfile
import uuid
from collections.abc import Callable

import numpy as np
import pandas as pd
from fsspec.core import url_to_fs

from ..core import schema
from ..core.dataset import Dataset
from ..core.errors import AnnowidgetsError
from ..core.loss import ExportResult
from ..formats import registry
from . import media as _media
from . import store
from .db import transaction
from .segments import segments

Progress = Callable[[float, str], None]

#: CVAT's palette for labels created without a colour.
PALETTE = ("#fa3253", "#24b353", "#3d3df5", "#ff6a4d", "#34d1b7", "#ff00cc", "#83e070", "#b83df5", "#fafa37",
           "#33ddff", "#ddff33", "#8c78f0", "#ff6037", "#aaf0d1", "#c08040", "#5986b3")


def _noop(fraction: float, message: str = "") -> None:
    pass


class ImportMismatchError(AnnowidgetsError, ValueError):
    """The input does not fit the target: unmatched frames or labels the project lacks."""


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


def _listing(values, limit: int = 20) -> str:
    values = [str(v) for v in values]
    more = f" … and {len(values) - limit} more" if len(values) > limit else ""
    return ", ".join(repr(v) for v in values[:limit]) + more


# -- locations ------------------------------------------------------------------------------
def export_location(ws, project_id: int, target: str | None, storage: str | None) -> tuple[str, dict, bool]:
    """``(folder or archive URL, storage options, owned)`` of an export.

    ``storage`` names an attached storage (``target`` is then a path inside it); a bare
    ``target`` URL gets the options of the attached storage it lies in; no target means the
    project's default target storage, or ``<workspace>/exports`` (``owned``: results there
    are deleted when the request expires). ``target="local"`` is CVAT's ``location=local``:
    ``<workspace>/exports`` even when the project's default target is a cloud storage.
    """
    if storage is None and target == "local":
        return os.path.join(ws.path, "exports"), {}, True
    if storage is not None:
        st = ws.storage(storage)
        return (posixpath.join(st.url, target) if target else st.url), st.options, False
    if target is None:
        st = ws.project(project_id).target_storage
        if st is not None:
            return st.url, st.options, False
        return os.path.join(ws.path, "exports"), {}, True
    target = os.fspath(target)
    return target, ws.options_for(target), False


def import_location(ws, project_id: int, source: str, storage: str | None) -> tuple[str, dict]:
    """The URL and storage options of an import source (see :func:`export_location`).

    A relative name that is not a local file is looked up in the project's default source
    storage, as CVAT does when no location is given.
    """
    source = os.fspath(source)
    if storage is not None:
        st = ws.storage(storage)
        return posixpath.join(st.url, source), st.options
    if "://" not in source and not os.path.isabs(source) and not os.path.exists(source):
        st = ws.project(project_id).source_storage
        if st is not None:
            return posixpath.join(st.url, source), st.options
    return source, ws.options_for(source)


# -- export ------------------------------------------------------------------------------------
def scope_annotations(ws, level: str, ident: int) -> pd.DataFrame:
    """The scope's annotations alone, frames numbered as in :func:`scope_dataset`."""
    conn = ws.conn
    return store.load_annotations(conn, store.Scope.of(conn, level, ident), ws._project_of(level, ident))


def scope_items(ws, level: str, ident: int) -> pd.DataFrame:
    """The scope's items alone (sizes read and cached), frames numbered as in :func:`scope_dataset`."""
    conn = ws.conn
    scope = store.Scope.of(conn, level, ident)
    conn.execute("BEGIN")
    try:
        items = store.read_items(conn, scope)
        tasks = store.scope_tasks(conn, scope, ws._project_of(level, ident))
    finally:
        conn.execute("COMMIT")
    if len(items):
        items["frame"] = store.number_frames(items["frame"], items["task"], tasks, level)
    fill_item_sizes(ws, items)
    return items


def scope_dataset(ws, level: str, ident: int, fill_sizes: bool = True, annotations: bool = True) -> Dataset:
    """The job, task or project as a Dataset, sizes read (and cached) where still unknown."""
    conn = ws.conn
    scope = store.Scope.of(conn, level, ident)
    project_id = ws._project_of(level, ident)
    ds = store.load_scope(conn, scope, project_id, annotations=annotations)
    if fill_sizes:
        fill_item_sizes(ws, ds.items)
    name = conn.execute(f"SELECT {'name' if level != 'job' else 'NULL'} FROM "
                        f"{ {'project': 'projects', 'task': 'tasks', 'job': 'jobs'}[level]} WHERE id = ?",
                        (ident,)).fetchone()[0]
    pname, pcreated, pupdated = conn.execute("SELECT name, created, updated FROM projects WHERE id = ?",
                                             (project_id,)).fetchone()
    ds.info.update({"level": level, "id": int(ident), "project_id": int(project_id), "project_name": pname})
    if level == "project":
        ds.info["project"] = {"created": store.cvat_time(pcreated), "updated": store.cvat_time(pupdated)}
    job_updated = conn.execute("SELECT updated FROM jobs WHERE id = ?", (ident,)).fetchone()[0] \
        if level == "job" else None
    if name is not None:
        ds.info["name"] = name
    _cvat_meta(ds, level, job_updated)
    return ds


def _cvat_meta(ds: Dataset, level: str, job_updated: str | None = None) -> None:
    """What CVAT's meta block says beyond our columns: a video task's ``original_size`` and
    ``source``; a job's own size and absolute start/stop frames (start + segment × step)."""
    tasks, items = ds.tasks, ds.items
    if not len(tasks):
        return
    video = items[items["kind"].eq("video_frame")].drop_duplicates("task")
    for row in video.itertuples(index=False):
        hit = tasks.index[tasks["task_id"].eq(row.task)]
        for k in hit:
            extra = dict(tasks.at[k, "extra"] or {})
            extra.setdefault("original_size", [("width", str(row.width)), ("height", str(row.height))])
            if isinstance(row.media, str):
                extra.setdefault("source", posixpath.basename(row.media.split("::")[0]))
            tasks.at[k, "extra"] = extra
    if level == "job" and len(ds.jobs) == 1:
        job = ds.jobs.iloc[0]
        k = tasks.index[0]
        start, step = int(tasks.at[k, "start_frame"] or 0), store.frame_step(tasks.at[k, "frame_filter"])
        tasks.at[k, "size"] = int(job["stop"]) - int(job["start"]) + 1
        tasks.at[k, "start_frame"] = start + int(job["start"]) * step
        tasks.at[k, "stop_frame"] = start + int(job["stop"]) * step
        extra = dict(tasks.at[k, "extra"] or {})
        extra["updated"] = store.cvat_time(job_updated) or extra.get("updated", "")
        tasks.at[k, "extra"] = extra


def fill_item_sizes(ws, items: pd.DataFrame) -> None:
    """Read the sizes of images whose size is unknown from their headers; cache them."""
    missing = items["width"].isna() | items["height"].isna()
    missing &= items["kind"].eq("image") & items["media"].notna()
    if not missing.any():
        return
    sel = items[missing]
    sizes = _media.image_sizes(sel["media"].tolist(), ws.open_options)
    ok = [(int(s[0]), int(s[1]), int(i)) for s, i in zip(sizes, sel["item_id"], strict=True) if s is not None]
    if ok:
        with transaction(ws.conn) as conn:
            conn.executemany('UPDATE items SET "width" = ?, "height" = ? WHERE item_id = ?', ok)
        ids = pd.Series({i: (w, h) for w, h, i in ok})
        hit = items["item_id"].isin(ids.index)
        items.loc[hit, "width"] = [ids[i][0] for i in items.loc[hit, "item_id"]]
        items.loc[hit, "height"] = [ids[i][1] for i in items.loc[hit, "item_id"]]


def _frames_to_png(ds: Dataset, folder: str, progress: Progress) -> None:
    """Decode the video frames of ``ds`` to ``folder/frame_%06d.PNG`` and point items at them."""
    video = ds.items["kind"].eq("video_frame") & ds.items["media"].notna()
    if not video.any():
        return
    rows = ds.items[video]
    mframe = rows["media_frame"] if "media_frame" in rows else rows["frame"]
    new_media = pd.Series(index=rows.index, dtype=object)
    done, total = 0, len(rows)
    for (task, url), group in rows.groupby([rows["task"].fillna(-1), "media"], sort=False):
        # one folder per task: a project's subsets each number their frames from 0
        sub = os.path.join(folder, str(int(task)))
        os.makedirs(sub, exist_ok=True)
        wanted = dict(zip(mframe[group.index].astype(int), group.index, strict=True))
        for n, image in _media.video_frames(url, wanted.keys()):
            idx = wanted[n]
            path = os.path.join(sub, f"frame_{int(ds.items.at[idx, 'frame']):06d}.PNG")
            image.save(path, format="PNG")
            new_media[idx] = path
            done += 1
            progress(done / total, f"decoding video frame {done}/{total}")
    ds.items.loc[video, "media"] = new_media
    ds.items.loc[video, "name"] = [os.path.basename(p)[:-4] if isinstance(p, str) else n
                                   for p, n in zip(new_media, ds.items.loc[video, "name"], strict=True)]


def _localize_media(ws, ds: Dataset, folder: str, progress: Progress) -> None:
    """Fetch media that need their storage's credentials into ``folder`` (the writers copy
    media by URL alone), keeping each file's name."""
    media = ds.items["media"]
    opts = [ws.open_options(m) if isinstance(m, str) else {} for m in media]
    need = [i for i, o in enumerate(opts) if o]
    for k, i in enumerate(need):
        url = media.iloc[i]
        dst = os.path.join(folder, "media", str(k), posixpath.basename(url.split("::")[0]))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        with _media.open_url(url, "rb", **opts[i]) as src, open(dst, "wb") as out:
            shutil.copyfileobj(src, out, 1 << 20)
        ds.items.iloc[i, ds.items.columns.get_loc("media")] = dst
        progress((k + 1) / len(need), f"fetching media {k + 1}/{len(need)}")


def export_scope(ws, level: str, ident: int, format: str, save_images: bool, name: str | None,
                 target: str | None, storage: str | None, progress: Progress = _noop) -> ExportResult:
    """Write the scope as ``format``; return the archive's path or URL, with ``.loss`` saying
    what the format could not carry."""
    spec = registry.get(format)
    if spec.write is None:
        raise ValueError(f"format {spec.name!r} cannot be exported")
    project_id = ws._project_of(level, ident)
    folder, options, _owned = export_location(ws, project_id, target, storage)
    progress(0.0, "collecting annotations")
    ds = scope_dataset(ws, level, ident)
    progress(0.1, f"{len(ds.items)} items, {len(ds.annotations)} annotations")
    if name is None and not folder.lower().endswith(".zip"):
        name = registry.default_name(ds, spec, save_images, level=level, ident=ident,
                                     timestamp=ws._updated(level, ident))
    with tempfile.TemporaryDirectory(prefix="annowidgets-frames-") as tmp:
        if save_images:
            _frames_to_png(ds, tmp, lambda f, m="": progress(0.1 + 0.2 * f, m))
            _localize_media(ws, ds, tmp, lambda f, m="": progress(0.3 + 0.1 * f, m))
        result = registry.export(ds, folder, spec.name, save_images=save_images, name=name,
                                 storage_options=options or None,
                                 progress=lambda f, m="": progress(0.4 + 0.6 * f, m or "writing"), warn=False)
    return result


# -- matching -------------------------------------------------------------------------------
def _stem(names: pd.Series) -> pd.Series:
    return names.astype(str).str.replace(r"\.[^./]*$", "", regex=True)


def _base(names: pd.Series) -> pd.Series:
    return _stem(names).str.replace(r"^.*/", "", regex=True)


def match_items(incoming: pd.DataFrame, scope_items: pd.DataFrame, by_subset: bool) -> pd.Series:
    """Map incoming ``item_id`` -> database ``item_id``: by name, then id, then frame number.

    As CVAT's ``match_dm_item``: the name (path as uploaded) matches exactly, then the id
    (Datumaro's item id: the path without extension), then the base name without extension
    when that is unique in the scope, then the frame number (CVAT's absolute frame, the
    ``<image id>``). With ``by_subset`` (a project) names are first matched within the same
    subset. Our own integer ``item_id`` is never matched: a reader numbers items 0..N-1, and
    those numbers would land on unrelated rows of the database. Unmatched items map to NA.
    """
    out = pd.Series(pd.NA, index=incoming["item_id"].to_numpy(), dtype="Int64")

    def by_key(inc_key: pd.Series, db_key: pd.Series) -> None:
        todo = out.isna().to_numpy()
        if not todo.any():
            return
        unique = ~db_key.duplicated(keep=False)
        lookup = pd.Series(scope_items["item_id"].to_numpy()[unique.to_numpy()], index=db_key[unique].to_numpy())
        found = inc_key.map(lookup)
        take = todo & found.notna().to_numpy()
        out.iloc[np.flatnonzero(take)] = found.to_numpy()[take].astype("int64")

    inc_name, db_name = incoming["name"].astype(str), scope_items["name"].astype(str)
    keys = [(inc_name, db_name), (_stem(inc_name), _stem(db_name)), (_base(inc_name), _base(db_name))]
    if by_subset:
        inc_sub, db_sub = incoming["subset"].astype(str) + "\0", scope_items["subset"].astype(str) + "\0"
        keys = [(inc_sub + a, db_sub + b) for a, b in keys] + keys
    for a, b in keys:
        by_key(a.reset_index(drop=True), b.reset_index(drop=True))
    inc_frame, db_frame = incoming["frame"].astype("Int64"), scope_items["frame"].astype("Int64")
    if by_subset:  # a project numbers frames per subset
        inc_frame = incoming["subset"].astype(str) + "\0" + inc_frame.astype(str)
        db_frame = scope_items["subset"].astype(str) + "\0" + db_frame.astype(str)
    by_key(inc_frame.reset_index(drop=True), db_frame.reset_index(drop=True))
    return out


# -- labels ---------------------------------------------------------------------------------
def used_labels(ds: Dataset) -> list[str]:
    names = list(dict.fromkeys(ds.labels["name"].tolist()))
    extra = [n for n in pd.unique(ds.annotations["label"]) if n and n not in set(names)]
    return names + extra


def settle_labels(conn, project_id: int, ds: Dataset, declared: bool = True) -> Dataset:
    """Create the dataset's labels if the project has none, else check them (CVAT's rule).

    ``declared``: a dataset import checks every label the input declares (CVAT compares
    the dataset's categories); an annotation import checks only the labels its annotations
    use, as CVAT maps each shape's label (a VOC labelmap listing all 20 VOC classes must not
    block boxes of two of them). ``background`` is the one label a dataset may carry that
    the project lacks; its annotations are dropped, as CVAT does. Returns the dataset
    without them.
    """
    have = set(store.read_labels(conn, project_id)["name"])
    want = used_labels(ds) if declared or not have else \
        [n for n in pd.unique(ds.annotations["label"]) if n]
    if not have:
        rows = ds.labels.drop_duplicates("name") if len(ds.labels) else schema.empty("labels")
        missing = [n for n in want if n not in set(rows["name"])]
        if missing:
            rows = pd.concat([rows, schema.conform("labels", {"name": missing})], ignore_index=True)
        rows = rows.reset_index(drop=True)
        no_colour = rows["color"].isna()
        rows.loc[no_colour, "color"] = [PALETTE[i % len(PALETTE)] for i in range(int(no_colour.sum()))]
        store.insert_labels(conn, project_id, rows)
        return ds
    missing = [n for n in want if n not in have and n != "background"]
    if missing:
        raise ImportMismatchError(f"the project does not have the label(s) {_listing(missing)}; it has "
                                  f"{_listing(sorted(have))}. Add them to the project or rename them in the input.")
    if "background" not in have and ds.annotations["label"].eq("background").any():
        ds = ds.copy()
        ds.annotations = ds.annotations[ds.annotations["label"].ne("background")].reset_index(drop=True)
    return ds


# -- import annotations ------------------------------------------------------------------------
def read_input(ws, project_id: int, source: str, format: str | None, storage: str | None, options: dict) -> Dataset:
    url, storage_options = import_location(ws, project_id, source, storage)
    return registry.read(url, format=format, storage_options=storage_options or None, **options)


def import_annotations(ws, level: str, ident: int, ds: Dataset, progress: Progress = _noop) -> int:
    """Replace the scope's annotations with those of ``ds``; return how many were written.

    Frames are matched by name, then id, then frame number; any annotated input item that
    matches no frame of the scope is an error listing them, and nothing is changed.
    """
    project_id = ws._project_of(level, ident)
    with transaction(ws.conn) as conn:
        scope = store.Scope.of(conn, level, ident)
        scope_items = store.read_items(conn, scope)
        ds_items = ds.items
        # frame numbers as the scope exports them: CVAT's absolute numbers, offset per subset in a project
        task_ids = tuple(int(x) for x in pd.unique(scope_items["task"]))
        tasks = store.read_tasks(conn, f"id IN ({','.join('?' * len(task_ids))})", task_ids) if task_ids \
            else schema.empty("tasks")
        frames = store.project_frames if level == "project" else store.absolute_frames
        scope_items = scope_items.assign(frame=frames(scope_items, tasks))
        mapping = match_items(ds_items, scope_items, by_subset=level == "project")
        annotated = ds.annotations["item_id"].unique()
        unmatched = mapping[mapping.isna() & mapping.index.isin(annotated)]
        if len(unmatched):
            names = ds_items.set_index("item_id").loc[unmatched.index, "name"].tolist()
            raise ImportMismatchError(
                f"{len(names)} annotated item(s) of the input match no frame of {level} {ident} "
                f"(matched by name, then id, then frame number): {_listing(names)}")
        ds = settle_labels(conn, project_id, ds, declared=False)
        progress(0.1, "replacing annotations")
        store.delete_annotations(conn, scope)
        task_of = pd.Series(scope_items["task"].to_numpy(), index=scope_items["item_id"].to_numpy())
        anns = _offset_tracks(conn, ds.annotations, mapping, task_of)
        n = store.insert_annotations(conn, anns, mapping, task_of, ds.sets, ds.relations,
                                     progress=lambda f, m="": progress(0.1 + 0.85 * f, m))
        _sizes_from(conn, ds_items, mapping)
        _touch(conn, level, ident)
    return n


def _offset_tracks(conn, anns: pd.DataFrame, mapping: pd.Series, task_of: pd.Series) -> pd.DataFrame:
    """Shift incoming track ids past those left in their task, so tracks of other jobs stay apart."""
    if not anns["track_id"].notna().any():
        return anns
    tasks = anns["item_id"].map(mapping).map(task_of)
    anns = anns.copy()
    for task_id in pd.unique(tasks.dropna()):
        top = conn.execute("SELECT coalesce(max(track_id), -1) + 1 FROM annotations WHERE task_id = ?",
                           (int(task_id),)).fetchone()[0]
        sel = tasks.eq(task_id).fillna(False).to_numpy()
        anns.loc[sel, "track_id"] = anns.loc[sel, "track_id"] + top
    return anns


def _sizes_from(conn, items: pd.DataFrame, mapping: pd.Series) -> None:
    """Cache sizes the input states for frames whose size is still unknown."""
    ok = items["width"].notna() & items["height"].notna()
    if not ok.any():
        return
    db_ids = items.loc[ok, "item_id"].map(mapping)
    rows = [(int(w), int(h), int(i)) for w, h, i in zip(items.loc[ok, "width"], items.loc[ok, "height"], db_ids,
                                                         strict=True) if i is not pd.NA and not pd.isna(i)]
    conn.executemany('UPDATE items SET "width" = ?, "height" = ? WHERE item_id = ? AND "width" IS NULL', rows)


def _touch(conn, level: str, ident: int) -> None:
    t = _now()
    if level == "job":
        conn.execute("UPDATE jobs SET updated = ? WHERE id = ?", (t, ident))
        conn.execute("UPDATE tasks SET updated = ? WHERE id = (SELECT task_id FROM jobs WHERE id = ?)", (t, ident))
    elif level == "task":
        conn.execute("UPDATE tasks SET updated = ? WHERE id = ?", (t, ident))
        conn.execute("UPDATE jobs SET updated = ? WHERE task_id = ?", (t, ident))
    else:
        conn.execute("UPDATE tasks SET updated = ? WHERE project_id = ?", (t, ident))
        conn.execute("UPDATE jobs SET updated = ? WHERE task_id IN (SELECT id FROM tasks WHERE project_id = ?)",
                     (t, ident))
    if level != "project":
        conn.execute("UPDATE projects SET updated = ? WHERE id = (SELECT project_id FROM tasks WHERE id = "
                     + ("(SELECT task_id FROM jobs WHERE id = ?))" if level == "job" else "?)"), (t, ident))
    else:
        conn.execute("UPDATE projects SET updated = ? WHERE id = ?", (t, ident))


# -- datasets -> new tasks ---------------------------------------------------------------------
def stage_media(ws, ds: Dataset, copy: bool | None, progress: Progress = _noop) -> tuple[pd.Series, str | None]:
    """Media URL per item of ``ds``; with ``copy`` (default: when the media is inside an archive)
    the files are copied into ``<workspace>/media/<uuid>/`` first. Returns the URLs and that folder.

    Media that cannot be found becomes None (the item then needs its size). Members of one
    archive are read through one open archive, so an archive on S3 is not re-opened per image.
    """
    urls = pd.Series([ds.media_url(m) for m in ds.items["media"].tolist()], index=ds.items.index, dtype=object)
    groups = _by_archive(urls)
    for outer, members in groups.items():
        if outer is None:
            for idx in members:
                fs, path = url_to_fs(urls[idx], **ws.open_options(urls[idx]))
                if not fs.exists(path):
                    urls[idx] = None
            continue
        with _open_zip(ws, outer) as zf:
            names = set(zf.namelist())
            for idx in members:
                if _member(urls[idx]) not in names:
                    urls[idx] = None
    have = urls.notna()
    if copy is None:
        copy = bool(have.any()) and bool(urls[have].str.startswith("zip://").any())
    if not copy or not have.any():
        return urls, None
    folder = os.path.join(ws.path, "media", uuid.uuid4().hex)
    names = ds.items["name"].astype(str)
    subsets = ds.items["subset"].astype(str)
    total, done = int(have.sum()), 0

    def target(idx) -> str:
        dst = os.path.join(folder, _safe_rel(f"{subsets[idx]}/{names[idx]}", urls[idx]))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        return dst

    try:
        for outer, members in _by_archive(urls[have]).items():
            if outer is None:
                for idx in members:
                    dst = target(idx)
                    with _media.open_url(urls[idx], "rb", **ws.open_options(urls[idx])) as src, \
                            open(dst, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    urls[idx] = dst
                    done += 1
                    progress(done / total, f"copying media {done}/{total}")
                continue
            with _open_zip(ws, outer) as zf:
                for idx in members:
                    dst = target(idx)
                    with zf.open(_member(urls[idx])) as src, open(dst, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    urls[idx] = dst
                    done += 1
                    progress(done / total, f"copying media {done}/{total}")
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return urls, folder


def with_related_images(ws, ds: Dataset, folder: str | None) -> Dataset:
    """``ds`` with its point clouds' related images (``items.extra["related_images"]``) made
    absolute URLs, and copied into ``folder`` when the media was (an archive's members would
    otherwise be lost with the upload). Returns ``ds`` itself when no item has any."""
    extra = ds.items["extra"].tolist()
    has = [i for i, e in enumerate(extra) if isinstance(e, dict) and e.get("related_images")]
    if not has:
        return ds
    names, subsets = ds.items["name"].astype(str).tolist(), ds.items["subset"].astype(str).tolist()
    for i in has:
        stem = posixpath.splitext(names[i])[0]
        moved = []
        for rel in extra[i]["related_images"]:
            url = ds.media_url(rel)
            if folder is not None:
                base = posixpath.basename(url.split("::")[0])  # a zip member's name, not the archive's
                dst = os.path.join(folder, _safe_rel(f"{subsets[i]}/related_images/{stem}/{base}", url))
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                with _media.open_url(url, "rb", **ws.open_options(url)) as src, open(dst, "wb") as out:
                    shutil.copyfileobj(src, out, 1 << 20)
                url = dst
            moved.append(url)
        extra[i] = {**extra[i], "related_images": moved}
    out = copy.copy(ds)  # shallow: only the items table is replaced
    out.items = ds.items.assign(extra=extra)
    return out


def _member(url: str) -> str:
    return url.split("::", 1)[0][len("zip://"):]


def _by_archive(urls: pd.Series) -> dict:
    """Item indexes grouped by the archive their media lies in (None: plain files)."""
    groups: dict = {}
    for idx, url in urls.items():
        if not isinstance(url, str):
            continue
        outer = url.split("::", 1)[1] if url.startswith("zip://") and "::" in url else None
        groups.setdefault(outer, []).append(idx)
    return groups


class _open_zip:
    """One archive (on any fsspec URL) open for reading its members."""

    def __init__(self, ws, url: str):
        self.url, self.opts = url, ws.options_for(url)

    def __enter__(self):
        import zipfile

        self._f = _media.open_url(self.url, "rb", **self.opts)
        self._z = zipfile.ZipFile(self._f)
        return self._z

    def __exit__(self, *exc):
        self._z.close()
        self._f.close()


def _safe_rel(rel: str, url: str) -> str:
    parts = [p for p in rel.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    rel = "/".join(parts) or "item"
    if not os.path.splitext(rel)[1]:
        rel += os.path.splitext(url.split("::")[0])[1]
    return rel


def add_tasks(ws, conn, project_id: int, ds: Dataset, groups: list[tuple[str, str, pd.Index]], urls: pd.Series,
              segment_size: int | None, overlap: int | None, media_dir: str | None,
              progress: Progress = _noop) -> list[int]:
    """Create one task per ``(name, subset, item index)`` group from ``ds`` inside the caller's transaction."""
    ds = settle_labels(conn, project_id, ds)
    items = ds.items
    no_media = urls.isna() & (items["width"].isna() | items["height"].isna())
    if no_media.any():
        raise ImportMismatchError(
            f"{int(no_media.sum())} item(s) have neither media nor a size: {_listing(items.loc[no_media, 'name'])}. "
            "Include the images, or a format that states image sizes.")
    task_ids, new_item = [], {}
    task_of: dict[int, int] = {}
    t = _now()
    for name, subset, index in groups:
        part = items.loc[index].sort_values(["frame", "item_id"], kind="stable").copy()
        part["media"] = urls[part.index].astype(object).where(urls[part.index].notna(), None)
        part["frame"] = np.arange(len(part))
        if "media_frame" not in part:
            part["media_frame"] = pd.NA
        cur = conn.execute(
            "INSERT INTO tasks (project_id, name, subset, mode, size, stop_frame, segment_size, overlap, media_dir, "
            "created, updated) VALUES (?, ?, ?, 'annotation', ?, ?, ?, ?, ?, ?, ?)",
            (project_id, name, subset, len(part), max(len(part) - 1, 0), segment_size, overlap or 0, media_dir, t, t))
        task_id = cur.lastrowid
        ids = store.insert_items(conn, task_id, part)
        insert_jobs(conn, task_id, len(part), segment_size, overlap, "annotation")
        new_item.update(zip(part["item_id"].astype("int64").tolist(), ids.tolist(), strict=True))
        task_of.update(dict.fromkeys(ids.tolist(), task_id))
        task_ids.append(task_id)
    mapping = pd.Series(new_item, dtype="Int64")
    store.insert_annotations(conn, ds.annotations, mapping, pd.Series(task_of), ds.sets, ds.relations, progress)
    conn.execute("UPDATE projects SET updated = ? WHERE id = ?", (t, project_id))
    return task_ids


def insert_jobs(conn, task_id: int, size: int, segment_size: int | None, overlap: int | None, mode: str) -> None:
    t = _now()
    conn.executemany("INSERT INTO jobs (task_id, start, stop, updated) VALUES (?, ?, ?, ?)",
                     [(task_id, a, b, t) for a, b in segments(size, segment_size, overlap, mode)])


def import_dataset(ws, project_id: int, ds: Dataset, copy_media: bool | None = None,
                   segment_size: int | None = None, overlap: int | None = None,
                   progress: Progress = _noop) -> list[int]:
    """One new task per subset of ``ds`` (name = subset = the subset's name), in one transaction."""
    ds = _with_item_ids(ds)
    urls, folder = stage_media(ws, ds, copy_media, lambda f, m="": progress(0.3 * f, m))
    try:
        ds = with_related_images(ws, ds, folder)
        with transaction(ws.conn) as conn:
            groups = [(str(s), str(s), idx) for s, idx in ds.items.groupby("subset", sort=False).groups.items()]
            return add_tasks(ws, conn, project_id, ds, groups, urls, segment_size, overlap, folder,
                             lambda f, m="": progress(0.3 + 0.7 * f, m))
    except BaseException:
        if folder:
            shutil.rmtree(folder, ignore_errors=True)
        raise


def _with_item_ids(ds: Dataset) -> Dataset:
    """Give items without ids (or with duplicate ids) fresh ones; annotations follow by position."""
    if ds.items["item_id"].notna().all() and ds.items["item_id"].is_unique:
        return ds
    if len(ds.annotations):
        raise ImportMismatchError("the input's items have missing or duplicate ids, so annotations cannot be "
                                  "placed on them")
    ds = ds.copy()
    ds.items["item_id"] = pd.array(np.arange(len(ds.items)), dtype="Int64")
    return ds
