"""Preview in a real Chromium: real clicks, keys and wheel, asserting on drawn state and saved traits."""
from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from annowidgets import Dataset
from annowidgets.widgets import Preview

from .conftest import ARTIFACTS

pytestmark = pytest.mark.browser

ROOT_SEL = ".aw-preview"


def _png(w: int, h: int) -> bytes:
    yy, xx = np.mgrid[0:h, 0:w]
    rgb = np.stack([xx * 255 // w, yy * 255 // h, np.full_like(xx, 90)], axis=-1).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, format="PNG")
    return out.getvalue()


def _dataset(tmp_path) -> Dataset:
    """Item 0: 6 annotations, 10 v1 predictions scored 0.05..0.95; item 1: 2 annotations, 1 prediction."""
    (tmp_path / "a.png").write_bytes(_png(640, 480))
    (tmp_path / "b.png").write_bytes(_png(320, 240))
    rows = []
    for k in range(6):
        rows.append(dict(item_id=0, label=["car", "person"][k % 2], source="annotation",
                         x=20 + 100 * k, y=40, w=60, h=80))
    for k in range(10):
        rows.append(dict(item_id=0, label="car", source="prediction", model_version="v1", score=0.05 + 0.1 * k,
                         x=22 + 60 * k, y=200, w=50, h=50, rotation=15 * k))
    rows += [dict(item_id=1, label="car", source="annotation", x=10, y=10, w=30, h=30),
             dict(item_id=1, label="person", source="annotation", type="polygon", points=[50, 50, 90, 50, 70, 90],
                  x=50, y=50, w=40, h=40),
             dict(item_id=1, label="car", source="prediction", model_version="v1", score=0.9, x=11, y=11, w=30, h=30)]
    for i, r in enumerate(rows):
        r["ann_id"] = i
    ann = {k: [r.get(k) for r in rows] for k in
           ["ann_id", "item_id", "label", "source", "model_version", "score", "x", "y", "w", "h", "rotation",
            "type", "points"]}
    ann["type"] = [t or "bbox" for t in ann["type"]]
    ann["rotation"] = [r or 0.0 for r in ann["rotation"]]
    return Dataset(items={"item_id": [0, 1], "media": ["a.png", "b.png"], "width": [640, 320],
                          "height": [480, 240]}, annotations=ann, media_root=str(tmp_path))


def _data(page, key: str) -> str:
    return page.eval_on_selector(ROOT_SEL, f"el => el.dataset.{key} ?? ''")


def _wait_data(page, key: str, value: str) -> None:
    page.wait_for_function(f"v => document.querySelector('{ROOT_SEL}')?.dataset.{key} === v", arg=value)


@pytest.fixture
def mounted(page, bridge, tmp_path):
    w = Preview(_dataset(tmp_path))
    b = bridge(w)
    b.mount()
    _wait_data(page, "image", "640x480")
    _wait_data(page, "drawn", "16")
    return w, b


def test_renders_image_and_every_shape(mounted, page):
    w, _ = mounted
    assert _data(page, "item") == "0"
    assert page.locator(".aw-pv-where").inner_text().startswith("1 / 2")
    # the canvas really shows the image: sample a pixel through the 2D context
    px = page.eval_on_selector(".aw-pv-canvas", "c => Array.from(c.getContext('2d').getImageData(c.width/2, c.height/2, 1, 1).data)")
    assert px[3] == 255 and px != [0, 0, 0, 255]
    # hovering the first annotation (image box 20..80 x 40..120) names it
    s, tx, ty = (float(_data(page, k)) for k in ("scale", "tx", "ty"))
    box = page.locator(".aw-pv-canvas").bounding_box()
    page.mouse.move(box["x"] + tx + 50 * s, box["y"] + ty + 80 * s)
    _wait_data(page, "hover", "0")
    assert page.locator(".aw-pv-tip").inner_text() == "car · annotation · FN · #0"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(ROOT_SEL).screenshot(path=str(ARTIFACTS / "preview.png"))
    page.mouse.move(box["x"] + 2, box["y"] + 2)  # over the letterbox: nothing
    _wait_data(page, "hover", "")


def test_toggling_a_source_changes_the_drawn_count(mounted, page):
    w, b = mounted
    page.locator(".aw-pv-source[data-source=prediction]").click()
    _wait_data(page, "drawn", "6")
    saved = b.pump()
    assert saved[-1] == {"hidden_layers": ["prediction:v1"]} and w.hidden_layers == ["prediction:v1"]
    page.locator(".aw-pv-source[data-source=annotation]").click()
    _wait_data(page, "drawn", "0")
    page.locator(".aw-pv-source[data-source=prediction]").click()
    _wait_data(page, "drawn", "10")
    b.pump()
    assert w.hidden_layers == ["annotation"]


def test_threshold_slider_hides_low_scores_and_rematches(mounted, page):
    w, b = mounted
    slider = page.locator(".aw-pv-threshold")
    box = slider.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.62, box["y"] + box["height"] / 2)  # a real click on the track
    value = float(slider.input_value())
    assert 0.4 < value < 0.85
    expected = 6 + sum(1 for k in range(10) if 0.05 + 0.1 * k >= value)
    _wait_data(page, "drawn", str(expected))
    b.pump()
    assert w.score_threshold == pytest.approx(value)
    # Python re-matched with the threshold; the summary in the page shows it
    b.pump()
    fp = page.locator(".aw-pv-summary .aw-pv-fp").inner_text()
    assert fp == f"FP {w.summary['prediction:v1']['fp']}"
    page.keyboard.press("End")  # keys on the focused slider: 1.0 hides every prediction (best is 0.95)
    _wait_data(page, "drawn", "6")
    assert float(slider.input_value()) == 1.0
    assert _data(page, "item") == "0"  # arrow/End keys on the slider never navigate items
    b.pump()
    assert w.score_threshold == 1.0 and w.summary["prediction:v1"] == {"tp": 0, "fp": 0, "fn": 6}


def test_wheel_zoom_pan_and_fit_keys(mounted, page):
    canvas = page.locator(".aw-pv-canvas")
    box = canvas.bounding_box()
    fit_scale = float(_data(page, "scale"))
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -400)
    page.wait_for_function(f"() => Number(document.querySelector('{ROOT_SEL}').dataset.scale) > {fit_scale * 1.5}")
    tx = float(_data(page, "tx"))
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] / 2 + 80, box["y"] + box["height"] / 2 + 10, steps=4)
    page.mouse.up()
    page.wait_for_function(f"() => Number(document.querySelector('{ROOT_SEL}').dataset.tx) > {tx + 60}")
    page.keyboard.press("0")  # the canvas click focused the widget: keys now act on it
    _wait_data(page, "scale", f"{fit_scale:.4f}")
    page.keyboard.press("+")
    page.wait_for_function(f"() => Number(document.querySelector('{ROOT_SEL}').dataset.scale) > {fit_scale * 1.2}")
    page.locator(".aw-btn", has_text="1:1").click()
    _wait_data(page, "scale", "1.0000")


def test_arrow_keys_change_the_item(mounted, page):
    w, b = mounted
    page.locator(".aw-pv-canvas").click()
    page.keyboard.press("ArrowRight")
    saved = b.pump()
    assert saved == [{"position": 1}] and w.position == 1 and w.item["item_id"] == 1
    _wait_data(page, "item", "1")
    _wait_data(page, "image", "320x240")
    _wait_data(page, "drawn", "3")
    page.keyboard.press("ArrowRight")  # already the last item: nothing saved
    assert b.pump() == []
    page.keyboard.press("ArrowLeft")
    b.pump()
    _wait_data(page, "item", "0")


def test_item_list_click_and_errors_filter(mounted, page):
    w, b = mounted
    page.locator(".aw-pv-row[data-item='1']").click()
    b.pump()
    assert w.position == 1
    _wait_data(page, "item", "1")
    page.locator(".aw-pv-canvas").click()
    page.keyboard.press("Shift+E")  # previous item with errors
    b.pump()
    _wait_data(page, "item", "0")
    page.locator(".aw-pv-next-error").click()
    b.pump()
    _wait_data(page, "item", "1")
    page.locator(".aw-pv-errors-only").check()
    b.pump()
    assert w.errors_only is True
    # both items have errors at threshold 0 (item 0: FPs; item 1: the polygon has no prediction -> FN)
    assert page.locator(".aw-pv-row").count() == 2


def test_colour_by_match_and_unmount_cleans_up(mounted, page):
    w, b = mounted
    page.locator(".aw-pv-colorby").select_option("match")
    b.pump()
    assert w.color_by == "match"
    page.evaluate("() => window.__awHost.unmount()")
    assert page.locator(ROOT_SEL).count() == 0
    # a late update from Python after the view is gone must not throw (listeners are tied to the signal)
    w.position = 1
    b.pump()


def test_five_thousand_boxes_draw_fast(page, bridge):
    rng = np.random.default_rng(0)
    n = 5000
    x, y = rng.uniform(0, 1800, n), rng.uniform(0, 1000, n)
    src = np.where(np.arange(n) % 2 == 0, "annotation", "prediction")
    ds = Dataset(items={"item_id": [0], "width": [1920], "height": [1080]},
                 annotations={"ann_id": np.arange(n), "item_id": np.zeros(n, int), "label": rng.choice(
                     ["car", "person", "bike", "bus"], n), "source": src,
                     "model_version": np.where(src == "prediction", "m1", None),
                     "score": np.where(src == "prediction", rng.uniform(0, 1, n), np.nan),
                     "x": x, "y": y, "w": rng.uniform(5, 80, n), "h": rng.uniform(5, 80, n)})
    w = Preview(ds)
    b = bridge(w)
    b.mount()
    _wait_data(page, "drawn", str(n))
    times = []
    for k in range(8):  # zoom steps: each is one full redraw of 5,000 boxes
        page.mouse.move(400, 300)
        page.mouse.wheel(0, -120 if k < 4 else 120)
        page.wait_for_timeout(40)
        times.append(float(_data(page, "drawMs")))
    print(f"\n5,000 boxes: draw ms per frame {times}")
    assert np.median(times) < 50, times


def test_every_geometry_kind_draws(page, bridge):
    from pycocotools import mask as mask_utils

    mk = np.zeros((200, 300), dtype=np.uint8, order="F")
    mk[120:180, 200:280] = 1
    enc = mask_utils.encode(mk)
    rle = {"size": [200, 300], "counts": enc["counts"].decode()}
    svg = ('<line data-node-from="1" data-node-to="2"></line><line data-node-from="2" data-node-to="3"></line>'
           '<circle data-node-id="1" data-label-name="head"></circle><circle data-node-id="2" data-label-name="hip">'
           '</circle><circle data-node-id="3" data-label-name="foot"></circle>')
    rows = [
        dict(type="bbox", label="box", x=10, y=10, w=60, h=30, rotation=20),
        dict(type="polygon", label="poly", points=[100, 10, 160, 20, 130, 60], x=100, y=10, w=60, h=50),
        dict(type="polyline", label="line", points=[10, 80, 60, 100, 90, 80], x=10, y=80, w=80, h=20),
        dict(type="points", label="pts", points=[120, 90, 130, 95, 140, 90], x=120, y=90, w=20, h=5),
        dict(type="ellipse", label="ell", x=180, y=10, w=80, h=40, rotation=30),
        dict(type="cuboid", label="cube", points=[10, 130, 50, 130, 50, 170, 10, 170, 25, 120, 65, 120, 65, 160,
                                                  25, 160], x=10, y=120, w=55, h=50),
        dict(type="mask", label="blob", mask=rle, x=200, y=120, w=80, h=60),
        dict(type="skeleton", label="body", ann_id=7, x=100, y=110, w=40, h=70),
        dict(type="points", label="head", parent_id=7, points=[120, 110], x=120, y=110, w=0, h=0),
        dict(type="points", label="hip", parent_id=7, points=[110, 150], x=110, y=150, w=0, h=0),
        dict(type="points", label="foot", parent_id=7, points=[140, 180], x=140, y=180, w=0, h=0),
    ]
    for i, r in enumerate(rows):
        r.setdefault("ann_id", i if i != 7 else 7)
    cols = ["ann_id", "type", "label", "x", "y", "w", "h", "rotation", "points", "mask", "parent_id"]
    ann = {c: [r.get(c) for r in rows] for c in cols}
    ann["ann_id"] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    ann["rotation"] = [r or 0.0 for r in ann["rotation"]]
    ann["item_id"] = [0] * len(rows)
    labels = {"name": ["body", "head", "hip", "foot", "blob"], "type": ["skeleton", "points", "points", "points", "mask"],
              "parent": [None, "body", "body", "body", None], "svg": [svg, None, None, None, None],
              "color": [None, None, None, None, "#00ff00"]}
    w = Preview(Dataset(items={"item_id": [0], "width": [300], "height": [200]}, annotations=ann, labels=labels))
    b = bridge(w)
    b.mount()
    _wait_data(page, "drawn", "8")  # the three skeleton nodes are drawn as part of the skeleton
    # the mask is painted in its label colour (green) at its centre
    px = page.evaluate("""() => {
        const root = document.querySelector('.aw-preview');
        const c = root.querySelector('canvas');
        const s = Number(root.dataset.scale), tx = Number(root.dataset.tx), ty = Number(root.dataset.ty);
        const d = window.devicePixelRatio || 1;
        return Array.from(c.getContext('2d').getImageData((240 * s + tx) * d, (150 * s + ty) * d, 1, 1).data);
    }""")
    assert px[1] > 100 and px[1] > px[0] + 40 and px[1] > px[2] + 40, px
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.locator(ROOT_SEL).screenshot(path=str(ARTIFACTS / "preview-shapes.png"))
