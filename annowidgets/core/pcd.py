"""Point coordinates from a point-cloud file: PCD (ascii and binary) and KITTI velodyne ``.bin``.

Only x, y, z are taken (for the preview's top view); other fields are skipped by their byte
layout, without a Python object per point. PCD's ``binary_compressed`` (LZF) is refused with
a clear error rather than guessed at.
"""
from __future__ import annotations

import numpy as np

from .errors import FormatError

_TYPES = {("F", 4): "<f4", ("F", 8): "<f8", ("I", 1): "i1", ("I", 2): "<i2", ("I", 4): "<i4", ("I", 8): "<i8",
          ("U", 1): "u1", ("U", 2): "<u2", ("U", 4): "<u4", ("U", 8): "<u8"}


def read_xyz(data: bytes, name: str = "point cloud") -> np.ndarray:
    """``(N, 3)`` float32 x, y, z of a ``.pcd`` or KITTI ``.bin`` file's bytes."""
    if not data.startswith((b"#", b"VERSION", b"FIELDS")):
        if len(data) % 16:
            raise FormatError(name, f"{len(data)} bytes: neither a PCD header nor KITTI float32 x y z r records")
        return np.frombuffer(data, dtype="<f4").reshape(-1, 4)[:, :3].copy()
    header, pos = {}, 0
    while True:
        end = data.find(b"\n", pos)
        if end < 0:
            raise FormatError(name, "PCD header without a DATA line")
        line = data[pos:end].decode("ascii", "replace").strip()
        pos = end + 1
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            header[key.upper()] = value.split()
            if key.upper() == "DATA":
                break
    fields = header.get("FIELDS", [])
    if not {"x", "y", "z"} <= set(fields):
        raise FormatError(name, f"PCD fields {fields}: expected x, y and z")
    n = int(header.get("POINTS", [0])[0]) or int(header.get("WIDTH", [0])[0]) * int(header.get("HEIGHT", [1])[0])
    counts = [int(c) for c in header.get("COUNT", ["1"] * len(fields))]
    mode = header["DATA"][0].lower()
    if mode == "ascii":
        cols = np.cumsum([0, *counts])
        table = np.loadtxt(data[pos:].decode("ascii").splitlines(), dtype=np.float64, ndmin=2)
        return np.stack([table[:, cols[fields.index(k)]] for k in "xyz"], axis=1).astype(np.float32)
    if mode != "binary":
        raise FormatError(name, f"PCD DATA {mode}: only ascii and binary point clouds can be shown")
    try:
        dtype = np.dtype([(f"{f}_{i}", _TYPES[(t.upper(), int(s))], (c,)) for i, (f, t, s, c) in
                          enumerate(zip(fields, header["TYPE"], header["SIZE"], counts, strict=True))])
    except (KeyError, ValueError) as exc:
        raise FormatError(name, f"PCD TYPE/SIZE/COUNT not understood: {exc}") from None
    if len(data) - pos < n * dtype.itemsize:
        raise FormatError(name, f"PCD holds {len(data) - pos} data bytes, {n} points need {n * dtype.itemsize}")
    rec = np.frombuffer(data, dtype=dtype, count=n, offset=pos)
    return np.stack([rec[f"{k}_{fields.index(k)}"][:, 0] for k in "xyz"], axis=1).astype(np.float32)
