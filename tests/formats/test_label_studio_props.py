"""Property tests: pixel geometry survives tables -> Label Studio JSON -> tables."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from annowidgets.core.dataset import Dataset
from annowidgets.formats import ls_read, ls_write

sizes = st.tuples(st.integers(16, 4000), st.integers(16, 4000))
fracs = st.floats(0.0, 1.0, allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(sizes, fracs, fracs, fracs, fracs, st.floats(-179.0, 180.0, allow_nan=False),
       st.lists(fracs, min_size=6, max_size=12).filter(lambda v: len(v) % 2 == 0))
def test_boxes_and_polygons_round_trip(size, fx, fy, fw, fh, rot, poly):
    W, H = size
    pts = [v * (W if i % 2 == 0 else H) for i, v in enumerate(poly)]
    ds = Dataset(
        items={"item_id": [0], "name": ["a.png"], "media": ["a.png"], "width": [W], "height": [H]},
        annotations={"ann_id": [0, 1, 2], "item_id": [0, 0, 0], "label": ["a", "b", "c"],
                     "type": ["bbox", "polygon", "ellipse"],
                     "x": [fx * W, np.nan, fx * W], "y": [fy * H, np.nan, fy * H],
                     "w": [fw * W, np.nan, fw * W], "h": [fh * H, np.nan, fh * H],
                     "rotation": [rot, 0.0, rot], "points": [None, pts, None]})
    tasks = ls_write.build_tasks(ds)
    r = ls_read.Reader()
    r.add_tasks(tasks)
    back = r.dataset().annotations
    a, p, e = back.iloc[0], back.iloc[1], back.iloc[2]
    assert [a.x, a.y, a.w, a.h, a.rotation] == pytest.approx([fx * W, fy * H, fw * W, fh * H, rot], abs=1e-6)
    assert p.points == pytest.approx(pts, abs=1e-6)
    assert [e.x, e.y, e.w, e.h, e.rotation] == pytest.approx([fx * W, fy * H, fw * W, fh * H, rot], abs=1e-6)
    # written once more, the JSON is the same up to the last bit of a float (percent -> px -> percent)
    again = ls_write.build_tasks(Dataset(items=r.dataset().items, annotations=back, sets=r.dataset().sets))
    assert _rounded(again) == _rounded(tasks)


def _rounded(obj):
    """Floats rounded to 9 significant digits, so one ULP of px/percent drift compares equal."""
    if isinstance(obj, float):
        return float(f"{obj:.9g}")
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_rounded(v) for v in obj]
    return obj
