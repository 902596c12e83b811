"""The schema: conform fills and casts, validate names the column and rows."""
from __future__ import annotations

import pandas as pd
import pytest

from annowidgets.core import schema
from annowidgets.core.dataset import Dataset


def test_conform_adds_defaults_casts_and_keeps_extra_columns():
    df = schema.conform("annotations", pd.DataFrame({"ann_id": [0, 1], "item_id": [0, 0], "x": [1, 2],
                                                     "my_col": ["a", "b"]}))
    assert list(df.columns[: len(schema.ANNOTATIONS)]) == list(schema.ANNOTATIONS)
    assert df["my_col"].tolist() == ["a", "b"]
    assert str(df["x"].dtype) == "float64" and str(df["ann_id"].dtype) == "Int64"
    assert df["rotation"].tolist() == [0.0, 0.0] and df["source"].tolist() == ["annotation"] * 2
    assert df["points"].tolist() == [None, None]
    schema.check_table("annotations", df)


def test_conform_names_the_rows_it_cannot_cast():
    with pytest.raises(schema.SchemaError, match=r"annotations\.x.*rows \[1\]"):
        schema.conform("annotations", pd.DataFrame({"x": [1.0, "wide"]}))


def _ds(**ann):
    items = pd.DataFrame({"item_id": [0], "name": ["a.png"], "width": [10], "height": [10]})
    row = {"ann_id": 0, "item_id": 0, "label": "car", "type": "bbox", "x": 1, "y": 1, "w": 2, "h": 2}
    row.update(ann)
    return Dataset(items=items, annotations=pd.DataFrame([row]))


def test_validate_accepts_a_good_dataset():
    assert _ds().validate()


@pytest.mark.parametrize("bad, message", [
    ({"type": "blob"}, r"annotations\.type: unknown values \['blob'\]"),
    ({"item_id": 5}, r"annotations\.item_id: rows \[0\]"),
    ({"w": -1}, r"negative size in rows \[0\]"),
    ({"source": "guess"}, r"annotations\.source"),
    ({"parent_id": 9}, r"annotations\.parent_id"),
])
def test_validate_names_the_problem(bad, message):
    with pytest.raises(schema.SchemaError, match=message):
        _ds(**bad).validate()


def test_duplicate_keys_are_refused():
    ds = _ds()
    ds.annotations = pd.concat([ds.annotations, ds.annotations], ignore_index=True)
    with pytest.raises(schema.SchemaError, match="duplicate keys"):
        ds.validate()


def test_describe_lists_every_column():
    d = schema.describe()
    assert len(d) == sum(len(c) for c in schema.TABLES.values())
    assert {"item_id", "x", "rotation", "mask"} <= set(d["column"])
