"""Ordered schema migrations of the two workspace databases (append only, never edit one).

``workspace.db`` holds the hierarchy and the annotations; ``requests.db`` holds the requests.
Requests live in a database of their own so that a request can report progress while an
import holds the write lock of ``workspace.db`` for its single transaction.
Annotation columns are those of :data:`annowidgets.core.schema.ANNOTATIONS` (same names),
object columns (points, mask, attributes, extra…) are stored as JSON.
"""
from __future__ import annotations

WORKSPACE = [
    # 1: the hierarchy, labels, items and annotations
    """
    CREATE TABLE storages (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, url TEXT NOT NULL, options BLOB,
        created TEXT NOT NULL);
    CREATE TABLE projects (
        id INTEGER PRIMARY KEY, name TEXT NOT NULL, created TEXT NOT NULL, updated TEXT NOT NULL,
        source_storage_id INTEGER REFERENCES storages(id) ON DELETE SET NULL,
        target_storage_id INTEGER REFERENCES storages(id) ON DELETE SET NULL,
        extra BLOB);
    CREATE TABLE labels (
        id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        position INTEGER NOT NULL, "name" TEXT NOT NULL, "color" TEXT, "type" TEXT NOT NULL DEFAULT 'any',
        "attributes" BLOB, "parent" TEXT, "svg" TEXT, "from_name" TEXT, "extra" BLOB);
    CREATE INDEX labels_project ON labels(project_id, position);
    CREATE TABLE tasks (
        id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        name TEXT NOT NULL, subset TEXT NOT NULL DEFAULT '', mode TEXT NOT NULL DEFAULT 'annotation',
        size INTEGER NOT NULL DEFAULT 0, start_frame INTEGER NOT NULL DEFAULT 0, stop_frame INTEGER,
        frame_filter TEXT NOT NULL DEFAULT '', segment_size INTEGER, overlap INTEGER NOT NULL DEFAULT 0,
        media_dir TEXT, created TEXT NOT NULL, updated TEXT NOT NULL, extra BLOB);
    CREATE INDEX tasks_project ON tasks(project_id);
    CREATE TABLE jobs (
        id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        start INTEGER NOT NULL, stop INTEGER NOT NULL, type TEXT NOT NULL DEFAULT 'annotation',
        updated TEXT NOT NULL);
    CREATE INDEX jobs_task ON jobs(task_id);
    CREATE TABLE items (
        item_id INTEGER PRIMARY KEY, task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE,
        "frame" INTEGER NOT NULL, "name" TEXT NOT NULL DEFAULT '', "media" TEXT, media_frame INTEGER,
        "width" INTEGER, "height" INTEGER, "kind" TEXT NOT NULL DEFAULT 'image', "duration" REAL,
        "data" BLOB, "extra" BLOB, UNIQUE (task_id, "frame"));
    CREATE TABLE sets (
        set_id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL REFERENCES items(item_id) ON DELETE CASCADE,
        "source" TEXT, "annotator" TEXT, "model_version" TEXT, "score" REAL, "cancelled" INTEGER,
        "ground_truth" INTEGER, "created" TEXT, "updated" TEXT, "lead_time" REAL, "extra" BLOB);
    CREATE INDEX sets_item ON sets(item_id);
    CREATE TABLE annotations (
        ann_id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL REFERENCES items(item_id) ON DELETE CASCADE,
        task_id INTEGER NOT NULL, "set_id" INTEGER, "source" TEXT NOT NULL DEFAULT 'annotation',
        "annotator" TEXT, "model_version" TEXT, "score" REAL, "origin" TEXT, "region_id" TEXT,
        "track_id" INTEGER, "group" INTEGER, "parent_id" INTEGER, "label" TEXT NOT NULL DEFAULT '',
        "type" TEXT NOT NULL DEFAULT 'bbox', "from_name" TEXT, "to_name" TEXT,
        "x" REAL, "y" REAL, "w" REAL, "h" REAL, "rotation" REAL, "points" BLOB, "mask" BLOB,
        "z_order" INTEGER, "occluded" INTEGER, "outside" INTEGER, "keyframe" INTEGER,
        "start" REAL, "end" REAL, "text" TEXT, "value" REAL, "attributes" BLOB, "extra" BLOB);
    CREATE INDEX annotations_item ON annotations(item_id);
    CREATE INDEX annotations_task ON annotations(task_id, "source", "label");
    CREATE TABLE relations (
        id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL REFERENCES items(item_id) ON DELETE CASCADE,
        task_id INTEGER NOT NULL, "set_id" INTEGER, "from_region" TEXT, "to_region" TEXT, "direction" TEXT,
        "labels" BLOB, "extra" BLOB);
    CREATE INDEX relations_task ON relations(task_id);
    """,
]

REQUESTS = [
    # 1: background export/import requests (CVAT's Requests page)
    """
    CREATE TABLE requests (
        id TEXT PRIMARY KEY, operation TEXT NOT NULL, level TEXT NOT NULL, target_id INTEGER NOT NULL,
        format TEXT, location TEXT, status TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0,
        message TEXT NOT NULL DEFAULT '', created TEXT NOT NULL, started TEXT, finished TEXT, expiry TEXT,
        result TEXT, result_id INTEGER, owned_by_workspace INTEGER NOT NULL DEFAULT 0,
        pid INTEGER, host TEXT, cancel INTEGER NOT NULL DEFAULT 0, options BLOB);
    CREATE INDEX requests_created ON requests(created);
    """,
]
