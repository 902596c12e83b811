"""Against label-studio-sdk (in its own venv; skipped unless ANNOWIDGETS_ORACLE_PYTHON is set)."""
from __future__ import annotations

import json
import os
import subprocess

import numpy as np
import pytest

from annowidgets.core import brush

ORACLE = os.environ.get("ANNOWIDGETS_ORACLE_PYTHON")
pytestmark = [pytest.mark.oracle,
              pytest.mark.skipif(not ORACLE, reason="ANNOWIDGETS_ORACLE_PYTHON not set (label-studio-sdk venv)")]


def _sdk(code: str, payload) -> object:
    res = subprocess.run([ORACLE, "-c", code], input=json.dumps(payload), capture_output=True, text=True,
                         check=True, timeout=120)
    return json.loads(res.stdout)


def test_brush_codec_agrees_with_sdk():
    rng = np.random.default_rng(1)
    masks = [np.where(rng.random((20, 30)) < 0.3, 255, 0).astype(np.uint8),
             np.pad(np.full((5, 7), 128, np.uint8), ((3, 4), (2, 9)))]
    code = ("import sys, json, numpy as np\n"
            "from label_studio_sdk.converter.brush import decode_rle, encode_rle\n"
            "ms = json.load(sys.stdin)\n"
            "out = []\n"
            "for m in ms:\n"
            "    a = np.array(m['mask'], np.uint8)\n"
            "    words = np.repeat(a.ravel(), 4)\n"
            "    out.append({'enc': [int(v) for v in encode_rle(words)],\n"
            "                'dec': decode_rle(m['ours']).reshape(a.shape + (4,))[..., 3].tolist()})\n"
            "print(json.dumps(out))\n")
    got = _sdk(code, [{"mask": m.tolist(), "ours": brush.encode(m)} for m in masks])
    for m, g in zip(masks, got, strict=True):
        assert np.array_equal(np.array(g["dec"], np.uint8), m)  # the SDK decodes our encoding
        assert np.array_equal(brush.decode(g["enc"], *m.shape), m)  # we decode the SDK's encoding
