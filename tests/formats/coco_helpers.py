"""Small datasets built by hand for the COCO tests."""
from __future__ import annotations

import numpy as np
import pandas as pd

from annowidgets.core.dataset import Dataset
from annowidgets.core.masks import coco_encode


def square_mask(h, w, y0, y1, x0, x1, hole=None):
    m = np.zeros((h, w), bool)
    m[y0:y1, x0:x1] = True
    if hole:
        m[hole[0]:hole[1], hole[2]:hole[3]] = False
    return coco_encode(m)


def sample_dataset() -> Dataset:
    """Two subsets; a box, a rotated box, a two-part polygon, a mask with a hole, a prediction,
    a grouped box + polygon, and a skeleton of three points linked to its box."""
    items = {"item_id": [10, 11, 12], "name": ["a.jpg", "b.jpg", "c.jpg"], "subset": ["train", "train", "val"],
             "width": [120, 64, 40], "height": [80, 48, 30], "media": ["a.jpg", "b.jpg", "c.jpg"]}
    rows = [
        dict(item_id=10, label="car", type="bbox", x=12.0, y=16.0, w=36.0, h=40.0,
             attributes={"color": "red"}, occluded=True),
        dict(item_id=10, label="person", type="bbox", x=72 + 12 - 24 / 2 * 1, y=8.0, w=24.0, h=32.0, rotation=30.0),
        dict(item_id=10, label="road", type="polygon", points=[0.0, 60.0, 60.0, 48.0, 120.0, 60.0, 120.0, 80.0],
             region_id="7", group=3),
        dict(item_id=10, label="road", type="polygon", points=[0.0, 0.0, 10.0, 0.0, 10.0, 10.0],
             region_id="7", group=3),
        dict(item_id=11, label="sky", type="mask", mask=square_mask(48, 64, 2, 20, 4, 40, hole=(5, 8, 10, 20))),
        dict(item_id=11, label="car", type="bbox", x=1.5, y=2.5, w=10.0, h=5.0, source="prediction", score=0.75,
             model_version="m1"),
        dict(item_id=11, label="car", type="bbox", x=30.0, y=20.0, w=8.0, h=6.0, group=5, annotator="ann@x.org"),
        dict(item_id=11, label="person", type="polygon", points=[30.0, 20.0, 38.0, 20.0, 38.0, 26.0], group=5),
        dict(item_id=12, label="pose", type="skeleton", x=2.0, y=3.0, w=20.0, h=20.0, group=9),
        dict(item_id=12, label="pose", type="bbox", x=1.0, y=1.0, w=25.0, h=25.0, group=9),
    ]
    for _j, (lab, p, out, occ) in enumerate([("head", [5.0, 4.0], False, False), ("hand", [10.0, 12.0], False, True),
                                            ("foot", [0.0, 0.0], True, False)]):
        rows.append(dict(item_id=12, label=lab, type="points", points=p, x=p[0], y=p[1], w=0.0, h=0.0, parent_id=8,
                         outside=out, occluded=occ))
    ann = pd.DataFrame(rows)
    ann.insert(0, "ann_id", range(len(rows)))
    labels = {"name": ["car", "person", "road", "sky", "pose", "head", "hand", "foot"],
              "type": ["any", "any", "any", "any", "skeleton", "points", "points", "points"],
              "parent": [None, None, None, None, None, "pose", "pose", "pose"],
              "svg": [None, None, None, None,
                      '<line data-type="edge" data-node-from="1" data-node-to="2"></line>'
                      '<line data-type="edge" data-node-from="2" data-node-to="3"></line>'
                      '<circle data-type="element node" data-node-id="1" data-label-name="head"></circle>'
                      '<circle data-type="element node" data-node-id="2" data-label-name="hand"></circle>'
                      '<circle data-type="element node" data-node-id="3" data-label-name="foot"></circle>',
                      None, None, None]}
    return Dataset(items=items, annotations=ann, labels=labels).validate()
