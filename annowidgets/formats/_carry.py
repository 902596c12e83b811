"""Report the per-row fields a writer has no place for (attributes, scores), so they are not lost
silently: the shape is written, the field is not, and the loss report names the rows.
"""
from __future__ import annotations

import numpy as np
import pandas as pd


def _has_attributes(a: pd.DataFrame) -> np.ndarray:
    return a["attributes"].map(lambda d: bool(d) if isinstance(d, dict) else False).to_numpy(dtype=bool)


def report_attributes(report, a: pd.DataFrame, where: str) -> None:
    """Rows of ``a`` (written ones) whose ``attributes`` dict is not empty."""
    if len(a):
        report.add("annotations", a["ann_id"][_has_attributes(a)], f"attributes are not carried by {where}")


def report_scores(report, a: pd.DataFrame, where: str) -> None:
    """Rows of ``a`` (written ones) with a ``score``."""
    if len(a):
        report.add("annotations", a["ann_id"][a["score"].notna().to_numpy()], f"scores are not carried by {where}")


def report_predictions_as_shapes(report, a: pd.DataFrame, where: str) -> None:
    """Predictions a format writes as ordinary shapes (CVAT: source="auto"): they come back as
    annotations and their scores are gone. Scores on other rows are named too."""
    if len(a):
        pred = (a["source"] == "prediction").to_numpy(dtype=bool)
        report.add("annotations", a["ann_id"][pred],
                   f"{where} cannot mark predictions: written as ordinary shapes, score and source lost")
        report.add("annotations", a["ann_id"][~pred & a["score"].notna().to_numpy()],
                   f"score has no place in {where}")
