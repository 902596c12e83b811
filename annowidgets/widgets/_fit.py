"""Which formats fit a workspace node: what the node holds (one SQL summary) against each
registered :class:`~annowidgets.formats.registry.FormatSpec` (its ``media`` and ``shapes``).

The rules, in order:

- **media**: a format fits when its ``media`` shares a kind with the node's items (images and
  video frames count as ``image``; video frames also as ``video``; text and audio as themselves).
  An empty node (no items yet) fits every format.
- **shapes**: when the node has annotations, a format must carry at least one of their types;
  the types it cannot carry are listed (``lost``) and such formats sort after the lossless ones.
- **tracks**: formats made for tracks (a ``Track`` in their name) are listed only when the node
  has tracks; formats that keep tracks (``video`` media) are noted as such.
- **level**: the level enters through what the node holds (a job holds a slice of its task);
  importing a *dataset* is a project action, importing *annotations* needs items to match.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..formats import registry
from ..workspace import store

#: Item kinds -> the FormatSpec.media values they count as.
KIND_MEDIA = {"image": ("image",), "video_frame": ("image", "video"), "video": ("video",),
              "text": ("text",), "audio": ("audio",)}
#: Preferred default export per media (CVAT's default first).
PREFERRED = ("CVAT for images 1.1", "CVAT for video 1.1", "Label Studio JSON")


@dataclass
class Holding:
    """What a node holds: item kinds, annotation types with counts, whether it has tracks."""

    items: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    tracks: bool = False

    @property
    def media(self) -> set[str]:
        return {m for k in self.kinds for m in KIND_MEDIA.get(k, (k,))}

    def as_dict(self) -> dict:
        return {"items": self.items, "kinds": dict(self.kinds), "types": dict(self.types),
                "sources": dict(self.sources), "tracks": self.tracks}


def holding(node) -> Holding:
    """Summarise a workspace Project/Task/Job with three grouped queries (no annotations loaded)."""
    ws = node._ws
    conn = ws.conn
    scope = store.Scope.of(conn, node.level, node.id)
    kinds = dict(conn.execute(f"SELECT i.kind, count(*) FROM items i WHERE {scope.cond} GROUP BY i.kind",
                              scope.params).fetchall())
    rows = conn.execute(
        f'SELECT a."type", a."source", count(*), count(a.track_id) FROM annotations a '
        f"JOIN items i ON i.item_id = a.item_id WHERE {scope.cond} GROUP BY a.\"type\", a.\"source\"",
        scope.params).fetchall()
    types: dict[str, int] = {}
    sources: dict[str, int] = {}
    tracks = False
    for typ, src, n, n_tracked in rows:
        types[typ] = types.get(typ, 0) + n
        sources[src] = sources.get(src, 0) + n
        tracks = tracks or n_tracked > 0
    return Holding(items=sum(kinds.values()), kinds={str(k): int(v) for k, v in kinds.items()},
                   types=types, sources=sources, tracks=tracks)


def _needs_tracks(spec) -> bool:
    return "track" in registry.normalize(spec.name)


def _keeps_tracks(spec) -> bool:
    return "video" in spec.media or _needs_tracks(spec)


def export_formats(h: Holding) -> list[dict]:
    """Formats that can export what ``h`` holds, lossless first: ``{"name", "family", "lost", "note"}``."""
    media = h.media
    present = set(h.types)
    out = []
    for spec in registry.all_formats():
        if not spec.can_export:
            continue
        if media and not media & set(spec.media):
            continue
        if _needs_tracks(spec) and not h.tracks:
            continue
        lost = sorted(present - set(spec.shapes))
        if present and len(lost) == len(present):
            continue
        notes = []
        if lost:
            n = sum(h.types[t] for t in lost)
            notes.append(f"cannot carry {', '.join(lost)} ({n} annotation{'s' if n != 1 else ''})")
        if h.tracks:
            notes.append("keeps tracks" if _keeps_tracks(spec) else "tracks become per-frame shapes")
        out.append({"name": spec.name, "family": spec.family, "lost": lost, "note": "; ".join(notes)})
    out.sort(key=lambda f: (len(f["lost"]) > 0, not (h.tracks and _keeps_tracks(registry.get(f["name"])))))
    return out


def import_formats(h: Holding, mode: str) -> list[dict]:
    """Formats that can be read into a node holding ``h``: annotations must fit its media;
    a dataset (new tasks) may bring any media. ``{"name", "family", "note"}``."""
    media = h.media
    out = []
    for spec in registry.all_formats():
        if not spec.can_import:
            continue
        if mode == "annotations" and media and not media & set(spec.media):
            continue
        out.append({"name": spec.name, "family": spec.family, "note": ""})
    return out


def default_export(formats: list[dict]) -> str:
    names = [f["name"] for f in formats]
    lossless = [f["name"] for f in formats if not f["lost"]]
    for p in PREFERRED:
        if p in lossless:
            return p
    return (lossless or names or [""])[0]
