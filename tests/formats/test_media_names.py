"""The shared file naming of the writers that copy media (``_media.unique_file_names``)."""
from __future__ import annotations

import pandas as pd

from annowidgets.formats._media import unique_file_names


def _items(names, media):
    return pd.DataFrame({"item_id": range(10, 10 + len(media)), "name": names, "media": media})


def test_absolute_paths_keep_as_many_folders_as_tell_them_apart():
    media = ["/d/x/s/img.jpg", "/d/y/s/img.jpg", "https://h/bucket/q/img.jpg?sig=1", "/d/other.png"]
    names, renamed = unique_file_names(_items([None] * 4, media))
    assert names == ["x/s/img.jpg", "y/s/img.jpg", "q/img.jpg", "other.png"] and renamed == []


def test_relative_media_keep_their_whole_path_and_given_names_win():
    items = _items([None, None, "a/img.jpg", ""], ["a/img.jpg", "b/img.jpg", "/elsewhere/z.jpg", None])
    names, renamed = unique_file_names(items)
    # a/img.jpg is taken by a given name: the media-derived one gets a suffix; no media: item_<id>
    assert names == ["a/img__10.jpg", "b/img.jpg", "a/img.jpg", "item_13"] and renamed == []


def test_groups_are_separate_and_case_is_ignored():
    items = _items([None, None, None], ["a/IMG.jpg", "b/img.jpg", "c/img.jpg"])
    names, _ = unique_file_names(items, ["train", "train", "val"])
    assert names == ["a/IMG.jpg", "b/img.jpg", "img.jpg"]


def test_given_duplicates_renamed_only_on_request():
    items = _items(["x.jpg", "x.jpg", "x__11.jpg"], ["a/1.jpg", "b/2.jpg", "c/3.jpg"])
    assert unique_file_names(items, rename_given=False) == (["x.jpg", "x.jpg", "x__11.jpg"], [])
    assert unique_file_names(items) == (["x.jpg", "x__11_2.jpg", "x__11.jpg"], [11])


def test_flat_names_get_suffixes():
    items = _items([None] * 3, ["/p/a/img.jpg", "/p/b/img.jpg", "/p/img.jpg"])
    assert unique_file_names(items, flat=True)[0] == ["img.jpg", "img__11.jpg", "img__12.jpg"]
