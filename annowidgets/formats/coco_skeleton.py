"""Skeleton label definitions for COCO keypoints: keypoint names and edges <-> the labels table.

COCO puts a skeleton's keypoint names and its edges (1-based index pairs) on the category;
CVAT keeps them as sub-labels (``labels.parent``) and an SVG whose ``<line>`` elements carry
``data-node-from``/``data-node-to`` and whose ``<circle>`` elements map ``data-node-id`` to
``data-label-name``. These helpers convert between the two.
"""
from __future__ import annotations

import math
import re

import pandas as pd

_TAG = re.compile(r"<(line|circle)\b([^>]*)>", re.I)
_ATTR = re.compile(r'([\w:-]+)\s*=\s*"([^"]*)"')


def edges_from_svg(svg: str, names: list[str]) -> list[list[int]]:
    """1-based edges (indices into ``names``) from a CVAT skeleton SVG."""
    node_names: dict[str, str] = {}
    lines: list[tuple[str, str]] = []
    for tag, body in _TAG.findall(svg or ""):
        attrs = dict(_ATTR.findall(body))
        if tag.lower() == "circle" and "data-node-id" in attrs:
            node_names[attrs["data-node-id"]] = attrs.get("data-label-name", "")
        elif tag.lower() == "line" and "data-node-from" in attrs and "data-node-to" in attrs:
            lines.append((attrs["data-node-from"], attrs["data-node-to"]))
    index = {n: i + 1 for i, n in enumerate(names)}
    out = []
    for a, b in lines:
        ia, ib = index.get(node_names.get(a, "")), index.get(node_names.get(b, ""))
        if ia is None and a.isdigit() and int(a) <= len(names):  # no circle: node ids are positions
            ia = int(a)
        if ib is None and b.isdigit() and int(b) <= len(names):
            ib = int(b)
        if ia and ib:
            out.append([ia, ib])
    return out


def svg_from_edges(names: list[str], edges: list[list[int]]) -> str:
    """A CVAT-style skeleton SVG: nodes on a circle, one ``<line>`` per 1-based edge."""
    k = max(len(names), 1)
    pos = [(50 + 40 * math.cos(2 * math.pi * i / k), 50 + 40 * math.sin(2 * math.pi * i / k)) for i in range(k)]
    parts = []
    for a, b in edges:
        if 1 <= a <= len(names) and 1 <= b <= len(names):
            (x1, y1), (x2, y2) = pos[a - 1], pos[b - 1]
            parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                         f'data-type="edge" data-node-from="{a}" data-node-to="{b}"></line>')
    for i, name in enumerate(names):
        x, y = pos[i]
        esc = name.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
        parts.append(f'<circle r="1.5" stroke="black" fill="#b3b3b3" cx="{x:.1f}" cy="{y:.1f}" stroke-width="0.1" '
                     f'data-type="element node" data-element-id="{i + 1}" data-node-id="{i + 1}" '
                     f'data-label-name="{esc}"></circle>')
    return "".join(parts)


def normalize_edges(skeleton, k: int) -> list[list[int]]:
    """COCO ``skeleton`` pairs as 1-based pairs; 0-based lists (some writers) are shifted."""
    pairs = [[int(a), int(b)] for a, b in (skeleton or []) if a is not None and b is not None]
    if pairs and min(min(p) for p in pairs) == 0:
        pairs = [[a + 1, b + 1] for a, b in pairs]
    return [p for p in pairs if 1 <= p[0] <= k and 1 <= p[1] <= k]


def skeleton_spec(labels: pd.DataFrame, name: str, fallback_names: list[str]) -> tuple[list[str], list[list[int]]]:
    """Keypoint names and 1-based edges of skeleton label ``name`` from the labels table.

    Names come from the sub-labels (``parent == name``) in table order, else from the
    label's ``extra['keypoints']``, else ``fallback_names`` (the child rows' labels).
    Edges come from ``extra['skeleton']``, else from the SVG.
    """
    row = labels[(labels["name"] == name) & labels["parent"].isna()]
    extra = row["extra"].iloc[0] if len(row) else None
    extra = extra if isinstance(extra, dict) else {}
    subs = labels.loc[labels["parent"] == name, "name"].tolist()
    names = subs or list(extra.get("keypoints") or []) or list(fallback_names)
    for n in fallback_names:  # children whose label the table does not list still get a slot
        if n not in names:
            names.append(n)
    if extra.get("skeleton") is not None and extra.get("keypoints"):
        kp = list(extra["keypoints"])
        edges = [[names.index(kp[a - 1]) + 1, names.index(kp[b - 1]) + 1]
                 for a, b in normalize_edges(extra["skeleton"], len(kp)) if kp[a - 1] in names and kp[b - 1] in names]
    elif len(row) and isinstance(row["svg"].iloc[0], str):
        edges = edges_from_svg(row["svg"].iloc[0], names)
    else:
        edges = []
    return names, edges
