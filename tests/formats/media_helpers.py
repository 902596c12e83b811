"""Datasets whose media share a base name in different folders (the writers' file-name tests)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from annowidgets.core.dataset import Dataset

#: (folder, subset, grey level, label) of each item; the two ``train`` ones share ``img.jpg``
TWINS = [("a", "train", 10, "cat"), ("b", "train", 200, "dog"), ("c", "val", 120, "cow")]


def twins_dataset(root: Path, absolute: bool = False, subsets: bool = True) -> Dataset:
    """Items with empty names and media ``<folder>/img.jpg`` (relative to ``root``, or absolute
    paths), each image a different grey, each with one box whose label tells them apart."""
    media = []
    for folder, _, grey, _ in TWINS:
        (root / folder).mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((8, 10, 3), grey, np.uint8)).save(root / folder / "img.jpg")
        media.append(str(root / folder / "img.jpg") if absolute else f"{folder}/img.jpg")
    n = len(TWINS)
    items = pd.DataFrame({"item_id": range(n), "name": [""] * n, "media": media, "width": 10, "height": 8,
                          "subset": [s for _, s, _, _ in TWINS] if subsets else "default"})
    ann = pd.DataFrame({"ann_id": range(n), "item_id": range(n), "label": [lab for *_, lab in TWINS],
                        "type": "bbox", "x": 1.0, "y": 1.0, "w": 3.0, "h": 2.0})
    return Dataset(items=items, annotations=ann, media_root=None if absolute else str(root))


def zip_files(path) -> dict[str, bytes]:
    """Every file (not folder) of an export archive with its bytes."""
    with zipfile.ZipFile(str(path)) as zf:
        return {n: zf.read(n) for n in zf.namelist() if not n.endswith("/")}



def media_bytes(url: str) -> bytes:
    """The bytes behind an ``items.media`` URL of a loaded export."""
    from annowidgets.core.io import open_url

    with open_url(url, "rb") as f:
        return f.read()
