"""CONLL2003: the reference converter's result.conll line for line, tokenizer, round trips, bad input."""
from __future__ import annotations

import json
import zipfile

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import annowidgets as aw
from annowidgets.core.dataset import Dataset
from annowidgets.core.errors import FormatError
from annowidgets.core.loss import LossWarning
from annowidgets.formats import conll, registry
from annowidgets.formats._tokenize import tokenize
from tests.conftest import LABEL_STUDIO

needs_fixtures = pytest.mark.skipif(not LABEL_STUDIO.exists(), reason="Label Studio samples not found")


def ls_text_dataset(ls_dir) -> Dataset:
    """The text sample's items, sets and span rows, as the LS reader lays them out."""
    tasks = json.loads((ls_dir / "input" / "text" / "tasks.json").read_text())
    items, sets, ann = [], [], []
    for t in tasks:
        items.append({"item_id": t["id"], "kind": "text", "data": t["data"]})
        for a in t.get("annotations", []):
            sets.append({"set_id": a["id"], "item_id": t["id"], "annotator": str(a["completed_by"]),
                         "cancelled": a.get("was_cancelled", False)})
            for r in a["result"]:
                if r.get("type") != "labels":
                    continue
                v = r["value"]
                for label in v["labels"]:
                    ann.append({"ann_id": len(ann), "item_id": t["id"], "set_id": a["id"], "type": "span",
                                "label": label, "start": v["start"], "end": v["end"], "text": v["text"],
                                "region_id": r["id"], "from_name": r["from_name"], "to_name": r["to_name"]})
    return Dataset(items=items, sets=sets, annotations=ann)


def export_text(ds: Dataset, tmp_path, **options) -> tuple[str, str]:
    path = ds.export(str(tmp_path), format="CONLL2003", name="out.zip", **options)
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["result.conll"]
        return zf.read("result.conll").decode(), path


@needs_fixtures
def test_matches_reference_line_for_line(ls_dir, tmp_path):
    text, path = export_text(ls_text_dataset(ls_dir), tmp_path)
    assert text.splitlines() == (ls_dir / "output" / "text" / "CONLL2003" / "result.conll").read_text().splitlines()
    assert not path.loss


@needs_fixtures
def test_tokenizer_on_the_sample_texts(ls_dir):
    tasks = json.loads((ls_dir / "input" / "text" / "tasks.json").read_text())
    ref = (ls_dir / "output" / "text" / "CONLL2003" / "result.conll").read_text().split("\n\n")
    ref_tokens = [[ln.split()[0] for ln in block.splitlines() if not ln.startswith("-DOCSTART-")] for block in ref]
    texts = {t["data"]["text"] for t in tasks}
    for text in texts:
        spans, _ = tokenize(text)
        assert [text[s:e] for s, e in spans] in ref_tokens


def test_tokenizer_rules():
    text = 'He said "don\'t", 1,000 (U.S.) ann@x.com... Mr. Smith went home. Then he left.'
    spans, ends = tokenize(text)
    assert [text[s:e] for s, e in spans] == [
        "He", "said", '"', "do", "n't", '"', ",", "1,000", "(", "U.S.", ")", "ann", "@", "x.com", "...",
        "Mr.", "Smith", "went", "home.", "Then", "he", "left", "."]
    assert ends == [False] * (len(spans) - 1) + [True]
    spans, ends = tokenize(text, sentences=True)
    toks = [text[s:e] for s, e in spans]
    assert toks[toks.index("home"):toks.index("home") + 2] == ["home", "."]  # period before "Then" splits
    assert "Mr." in toks  # an abbreviation does not end a sentence
    assert sum(ends) == 2
    assert tokenize("") == ([], []) and tokenize("  \n ") == ([], [])
    text = "I cannot go, and/or won't; the dogs' bone: 10:30 ok."
    spans, _ = tokenize(text)
    assert [text[s:e] for s, e in spans] == ["I", "can", "not", "go", ",", "and", "/", "or", "wo", "n't", ";", "the",
                                             "dogs", "'", "bone", ":", "10:30", "ok", "."]


def test_overlaps_and_multi_labels_are_reported(tmp_path):
    ds = Dataset(items={"item_id": [0], "kind": "text", "data": [{"text": "New York City is big"}]},
                 sets={"set_id": [1], "item_id": [0]},
                 annotations={"ann_id": [0, 1, 2, 3], "item_id": 0, "set_id": 1, "type": "span",
                              "region_id": ["a", "b", "b", "c"], "label": ["LOC", "CITY", "GPE", "ADJ"],
                              "start": [0, 4, 4, 17], "end": [8, 13, 13, 20]})
    with pytest.warns(LossWarning) as rec:
        text, path = export_text(ds, tmp_path)
    assert "only the first is kept" in str(rec[0].message)
    reasons = {e.reason: e.rows for e in path.loss.entries}
    assert reasons["span has several labels; CoNLL keeps the first"] == [2]
    assert reasons["span overlaps an earlier span; only the first is kept"] == [1]
    assert text.splitlines()[1:] == ["New -X- _ B-LOC", "York -X- _ I-LOC", "City -X- _ O", "is -X- _ O",
                                     "big -X- _ B-ADJ", ""]


def test_items_without_text_or_annotations_do_not_crash(tmp_path):
    ds = Dataset(items={"item_id": [0, 1, 2], "kind": "text",
                        "data": [None, {"text": "Plain words here"}, {"text": "Paris"}]},
                 sets={"set_id": [10], "item_id": [0]},
                 annotations={"ann_id": [0, 1], "item_id": [0, 2], "set_id": [10, pd.NA], "type": ["span", "tag"],
                              "label": ["X", "doc"], "start": [0, None], "end": [3, None]})
    with pytest.warns(LossWarning):
        text, path = export_text(ds, tmp_path)
    assert text == "-DOCSTART- -X- O\n"
    assert {e.reason: e.rows for e in path.loss.entries} == {
        "not a text span; CoNLL carries labelled spans only": [1],
        "item has no text in its data; span not written": [0]}
    ds.annotations = ds.annotations[ds.annotations["type"] == "span"]
    ds.items["data"] = [{"text": "abc def"}, *ds.items["data"].iloc[1:]]
    text, _ = export_text(ds, tmp_path, unannotated="write")
    assert text.splitlines()[1:] == ["abc -X- _ B-X", "def -X- _ O", "", "Plain -X- _ O", "words -X- _ O",
                                     "here -X- _ O", "", "Paris -X- _ O", ""]


def test_sentence_option(tmp_path):
    ds = Dataset(items={"item_id": [0], "kind": "text", "data": [{"text": "Go home. Now!"}]},
                 sets={"set_id": [0], "item_id": [0]})
    text, _ = export_text(ds, tmp_path, sentences=True)
    assert text.split("\n\n") == ["-DOCSTART- -X- O\nGo -X- _ O\nhome -X- _ O\n. -X- _ O", "Now -X- _ O\n! -X- _ O",
                                  ""]


@needs_fixtures
def test_read_reference_file(ls_dir):
    ds = aw.load(str(ls_dir / "output" / "text" / "CONLL2003" / "result.conll"))  # detected
    assert ds.info["format"] == "CONLL2003"
    assert ds.items["data"].iloc[1] == {"text": "John Smith joined Acme Corp. in New York last year ."}
    first = ds.annotations[ds.annotations["item_id"] == 0]
    assert list(zip(first["text"], first["label"], strict=True)) == [
        ("Angela Merkel", "PER"), ("Tim Cook", "PER"), ("Apple", "ORG"), ("Berlin", "LOC")]
    assert len(ds.items) == 4 and ds.annotations["item_id"].value_counts().to_dict() == {0: 4, 1: 3, 2: 1}
    ds.validate()


def test_iob1_iobes_and_documents(tmp_path):
    f = tmp_path / "x.conll"
    f.write_text("-DOCSTART- -X- -X- O\n\nEU NNP B-NP I-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP I-MISC\n"
                 "call NN I-NP O\n\nPeter NNP B-NP B-PER\nBlackburn NNP I-NP E-PER\nBob NNP I-NP S-PER\n\n"
                 "-DOCSTART- -X- -X- O\n\nHi UH O O\n")
    ds = aw.load(str(f), format="conll")
    assert ds.annotations["label"].tolist() == ["ORG", "MISC", "PER", "PER"]
    assert ds.annotations["text"].tolist() == ["EU", "German", "Peter Blackburn", "Bob"]
    assert ds.items["extra"].iloc[0]["columns"][0] == ["NNP", "B-NP"]
    docs = aw.load(str(f), format="conll", documents=True)
    assert len(docs.items) == 2
    assert docs.items["data"].iloc[0]["text"] == "EU rejects German call\nPeter Blackburn Bob"
    a = docs.annotations
    assert [docs.items["data"].iloc[0]["text"][s:e] for s, e in zip(a["start"].astype(int), a["end"].astype(int),
                                                                    strict=True)] == a["text"].tolist()


@pytest.mark.parametrize("body,line,msg", [("ok O\nalone\n", 2, "at least two columns"),
                                           ("ok O\n\nbad X-PER\n", 3, "is not O")])
def test_malformed_line_is_a_format_error(tmp_path, body, line, msg):
    f = tmp_path / "bad.conll"
    f.write_text(body)
    with pytest.raises(FormatError, match=msg) as info:
        aw.load(str(f), format="CONLL2003")
    assert info.value.line == line and info.value.file.endswith("bad.conll")


WORDS = st.text(alphabet="abcdefgXYZ", min_size=1, max_size=6)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.tuples(WORDS, st.sampled_from(["O", "PER", "LOC"])), min_size=1, max_size=12))
def test_round_trip_spans_conll_spans(tmp_path_factory, words):
    """Token-aligned spans -> CoNLL -> spans: same text pieces, labels and offsets on the rebuilt text."""
    text = " ".join(w for w, _ in words)
    starts = [sum(len(w) + 1 for w, _ in words[:i]) for i in range(len(words))]
    ann, i = [], 0
    while i < len(words):  # runs of one label become one span, broken at random-ish lengths
        label = words[i][1]
        j = i + 1
        while j < len(words) and words[j][1] == label and label != "O" and (j - i) < 3:
            j += 1
        if label != "O":
            ann.append({"ann_id": len(ann), "item_id": 0, "set_id": 0, "type": "span", "label": label,
                        "start": starts[i], "end": starts[j - 1] + len(words[j - 1][0])})
        i = j
    ds = Dataset(items={"item_id": [0], "kind": "text", "data": [{"text": text}]}, sets={"set_id": [0], "item_id": [0]},
                 annotations=ann)
    tmp = tmp_path_factory.mktemp("rt")
    _, path = export_text(ds, tmp)
    back = aw.load(path, format="CONLL2003")
    assert back.items["data"].iloc[0]["text"] == text
    got = back.annotations[["start", "end", "label"]].astype({"start": int, "end": int}).values.tolist()
    want = ds.annotations[["start", "end", "label"]].astype({"start": int, "end": int}).values.tolist()
    assert got == want


def test_spec():
    spec = registry.get("conll2003")
    assert spec.shapes == ("span",) and spec.media == ("text",) and spec.can_import and spec.can_export
    assert conll.decode_tags(["I-A", "I-A", "B-A", "O", "I-B", "I-A"]) == [(0, 2, "A"), (2, 3, "A"), (4, 5, "B"),
                                                                         (5, 6, "A")]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(list("ab Z.,:;'\"()-/!?`0123456789\n\t") + ["n't", "...", "Corp.", "cannot"]),
                max_size=40).map("".join), st.booleans())
def test_tokenizer_spans_cover_the_text(text, sentences):
    """Tokens are ordered, disjoint, non-empty, free of whitespace, and together are every non-space char."""
    spans, ends = tokenize(text, sentences=sentences)
    assert len(ends) == len(spans)
    pos = 0
    for s, e in spans:
        assert pos <= s < e
        assert not any(c.isspace() for c in text[s:e])
        assert text[pos:s].strip() == ""
        pos = e
    assert text[pos:].strip() == ""
    assert "".join(text[s:e] for s, e in spans) == "".join(text.split())
    if spans:
        assert ends[-1]


def test_detect_does_not_claim_other_text_files(tmp_path):
    one = tmp_path / "notes.txt"
    one.write_text("just one line of prose\n")
    from annowidgets.core.io import Source

    with Source(str(one)) as src:
        assert conll.detect(src) == 0.0
    (tmp_path / "labels.txt").write_text("0 0.5 0.5 0.1 0.2\n1 0.3 0.3 0.1 0.1\n2 0.1 0.1 0.1 0.1\n")
    with Source(str(tmp_path / "labels.txt")) as src:
        assert conll.detect(src) == 0.0
    (tmp_path / "ner.txt").write_text("Paris B-LOC\nis O\nnice O\n")
    with Source(str(tmp_path / "ner.txt")) as src:
        assert conll.detect(src) == 0.6
