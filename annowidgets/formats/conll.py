"""CoNLL-2003 (Label Studio's "CONLL2003" export): BIO-tagged tokens of text spans.

Export writes ``result.conll`` as Label Studio does: a first line ``-DOCSTART- -X- O``, then
one block per annotation set (not per item: two annotators give two blocks), lines
``token -X- _ TAG``, a blank line after each block. Tokens come from a Treebank-style span
tokenizer (:mod:`._tokenize`); a token is tagged when it overlaps a span. Spans that overlap
an earlier span, extra labels of one span and spans that cover no token of their own are
reported in the loss report (the first span is kept). ``sentences=True`` ends a block after
each sentence-final ``. ! ?`` as well; ``unannotated="write"`` writes items with text but no
annotation set as all-``O`` blocks (default: skipped, as there is nothing to say about them).

Import reads any CoNLL file (the last column is the tag; BIO, IOB1 and IOBES all work). Each
blank-line block becomes an item whose text is its tokens joined by single spaces, so span
offsets refer to that reconstructed text, not to any original; with ``documents=True`` the
blocks between ``-DOCSTART-`` lines form one item, sentences joined by a newline. Columns
between token and tag (POS, chunk) other than Label Studio's ``-X- _`` fillers are kept in
``items.extra["columns"]``.
"""
from __future__ import annotations

import gc
import re

import numpy as np
import pandas as pd

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.io import Sink, Source
from ._tokenize import tokenize
from .registry import FormatSpec, WriteContext, register

DOCSTART = "-DOCSTART- -X- O"
FILE = "result.conll"
_TAG = re.compile(r"^(?:O|([BIES])-(.+))$")


# -- export ------------------------------------------------------------------------------------
def item_text(data, to_name=None) -> str | None:
    """The text of an item from its Label Studio ``data``: the key named like the object tag, else ``text``."""
    if not isinstance(data, dict):
        return data if isinstance(data, str) else None
    for key in (to_name, "text"):
        if isinstance(key, str) and isinstance(data.get(key), str):
            return data[key]
    return next((v for v in data.values() if isinstance(v, str)), None)


def _texts(ds: Dataset, spans: pd.DataFrame) -> dict:
    to_names = spans.drop_duplicates("item_id").set_index("item_id")["to_name"].to_dict()
    out = {}
    for item_id, data in zip(ds.items["item_id"], ds.items["data"], strict=True):
        out[item_id] = item_text(data, to_names.get(item_id))
    return out


def keep_spans(spans: pd.DataFrame, report) -> pd.DataFrame:
    """Spans of one block that CoNLL can hold: the first label of a region, no overlaps."""
    spans = spans.sort_values(["start", "_order"], kind="stable")
    region = spans["region_id"].astype(object).where(spans["region_id"].notna(), spans["ann_id"].astype(str))
    dup = pd.Series(region.values, index=spans.index).duplicated()
    report.add("annotations", spans.loc[dup, "ann_id"], "span has several labels; CoNLL keeps the first")
    spans = spans[~dup.values]
    keep = np.ones(len(spans), bool)
    last_end = -np.inf
    for i, (s, e) in enumerate(zip(spans["start"].to_numpy(), spans["end"].to_numpy(), strict=True)):
        if s < last_end:
            keep[i] = False
        else:
            last_end = e
    report.add("annotations", spans.loc[~keep, "ann_id"], "span overlaps an earlier span; only the first is kept")
    return spans[keep]


def bio_tags(tokens: list[tuple[int, int]], spans: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """BIO tag per token for non-overlapping ``spans`` (sorted by start); also which spans got a token."""
    tags = ["O"] * len(tokens)
    hit = np.zeros(len(spans), bool)
    if not len(spans) or not tokens:
        return tags, hit
    tok = np.asarray(tokens, dtype=np.float64)
    starts, ends = spans["start"].to_numpy(float), spans["end"].to_numpy(float)
    labels = spans["label"].tolist()
    j = np.searchsorted(ends, tok[:, 0], side="right")  # first span ending after the token starts
    ok = j < len(spans)
    ok[ok] &= starts[j[ok]] < tok[ok, 1]
    prev = -1
    for t in np.nonzero(ok)[0]:
        k = j[t]
        tags[t] = ("I-" if k == prev and tags[t - 1] != "O" else "B-") + labels[k]
        prev = k
        hit[k] = True
    return tags, hit


def write(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    a = ds.annotations
    sentences = bool(ctx.options.get("sentences", False))
    unannotated = ctx.options.get("unannotated", "skip")
    is_span = a["type"] == "span"
    ctx.report.add_mask("annotations", a, ~is_span, "not a text span; CoNLL carries labelled spans only", key="ann_id")
    spans = a[is_span & a["start"].notna() & a["end"].notna()].copy()
    ctx.report.add_mask("annotations", a, is_span & (a["start"].isna() | a["end"].isna()),
                        "span without start/end offsets", key="ann_id")
    spans["_order"] = np.arange(len(spans))
    preds = spans["source"] == "prediction"
    ctx.report.add_mask("annotations", spans, preds, "prediction; CoNLL holds annotations only", key="ann_id")
    spans = spans[~preds]
    texts = _texts(ds, spans)
    sets = ds.sets
    cancelled = set(sets.loc[sets["cancelled"], "set_id"].dropna().tolist())
    in_cancelled = spans["set_id"].isin(cancelled)
    ctx.report.add_mask("annotations", spans, in_cancelled, "in a cancelled annotation set", key="ann_id")
    spans = spans[~in_cancelled]
    # blocks: every (item, set) with spans, plus empty annotation sets, in item then set order
    blocks = sets[(sets["source"] == "annotation") & ~sets["cancelled"]][["item_id", "set_id"]]
    blocks = pd.concat([blocks, spans[["item_id", "set_id"]]]).drop_duplicates()
    if unannotated == "write":
        bare = ds.items.loc[~ds.items["item_id"].isin(blocks["item_id"]), ["item_id"]].assign(set_id=pd.NA)
        blocks = pd.concat([blocks, bare])
    order = {v: i for i, v in enumerate(ds.items["item_id"])}
    blocks = blocks.assign(_o=blocks["item_id"].map(order)).sort_values("_o", kind="stable")
    spans["_set"] = spans["set_id"].astype(str)
    by_block = {k: g for k, g in spans.groupby(["item_id", "_set"], sort=False)}
    lines = [DOCSTART]
    no_text = []
    for n, (item_id, set_id) in enumerate(zip(blocks["item_id"], blocks["set_id"], strict=True)):
        group = by_block.get((item_id, str(set_id)), spans.iloc[:0])
        text = texts.get(item_id)
        if text is None:
            no_text.extend(group["ann_id"].tolist())
            continue
        kept = keep_spans(group, ctx.report)
        tokens, ends = tokenize(text, sentences=sentences)
        tags, hit = bio_tags(tokens, kept)
        ctx.report.add("annotations", kept.loc[~hit, "ann_id"] if len(kept) else [],
                       "span covers no token of its own (tokenizer boundary); dropped")
        if not tokens:
            continue
        for (s, e), tag, end in zip(tokens, tags, ends, strict=True):
            lines.append(f"{text[s:e]} -X- _ {tag}")
            if end:
                lines.append("")
        if n % 256 == 0:
            ctx.step(0.9 * n / max(len(blocks), 1), "CoNLL blocks")
    ctx.report.add("annotations", no_text, "item has no text in its data; span not written")
    sink.write_text(FILE, "\n".join(lines) + "\n")


# -- import --------------------------------------------------------------------------------------
def decode_tags(tags: list[str]) -> list[tuple[int, int, str]]:
    """(first token, last token exclusive, label) of each entity; BIO, IOB1 and IOBES alike."""
    out: list[tuple[int, int, str]] = []
    cur: list | None = None
    for i, tag in enumerate(tags):
        if tag == "O":
            cur = None
            continue
        kind, label = tag[0], tag[2:]
        if kind in "BS" or cur is None or cur[2] != label:
            cur = [i, i + 1, label]
            out.append(cur)
        else:
            cur[1] = i + 1
        if kind in "ES":
            cur = None
    return [tuple(c) for c in out]


def _parse(text: str, where: str) -> list[dict]:
    """Blocks of a CoNLL file: tokens, tags, middle columns, whether a -DOCSTART- precedes them."""
    blocks, cur, docstart = [], None, False
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line:
            cur = None
            continue
        cols = line.split()
        if cols[0] == "-DOCSTART-":
            cur, docstart = None, True
            continue
        if len(cols) < 2:
            raise FormatError(where, f"expected 'token … TAG' (at least two columns), got {raw!r}", line=n)
        tag = cols[-1]
        m = _TAG.match(tag)
        if not m:
            raise FormatError(where, f"tag {tag!r} is not O, B-X, I-X, E-X or S-X", line=n)
        if cur is None:
            cur = {"tokens": [], "tags": [], "middle": [], "doc": docstart, "line": n}
            docstart = False
            blocks.append(cur)
        cur["tokens"].append(cols[0])
        cur["tags"].append(tag)
        cur["middle"].append(cols[1:-1])
    return blocks


def _documents(blocks: list[dict]) -> list[list[dict]]:
    docs: list[list[dict]] = []
    for b in blocks:
        if b["doc"] or not docs:
            docs.append([])
        docs[-1].append(b)
    return docs


def read(source: Source, documents: bool = False, **options) -> Dataset:
    if source.kind == "file":
        rels = [None]
    else:  # .conll files if there are any, else text files (CoNLL has no fixed extension)
        rels = source.glob("*.conll", "*.conll2003") or source.glob("*.txt", "*.tsv")
    if not rels:
        raise FormatError(source.display(), "no .conll file found")
    items, ann = [], []
    gc_was = gc.isenabled()
    gc.disable()
    try:
        for rel in rels:
            where = source.display(rel)
            blocks = _parse(source.read_text(rel), where)
            groups = _documents(blocks) if documents else [[b] for b in blocks]
            for group in groups:
                item_id = len(items)
                parts, offset, middle, first_ann = [], 0, [], len(ann)
                for b in group:
                    starts = np.cumsum([0] + [len(t) + 1 for t in b["tokens"][:-1]]) + offset
                    sent = " ".join(b["tokens"])
                    for first, last, label in decode_tags(b["tags"]):
                        s, e = int(starts[first]), int(starts[last - 1] + len(b["tokens"][last - 1]))
                        ann.append({"item_id": item_id, "set_id": item_id, "type": "span", "label": label,
                                    "start": s, "end": e, "from_name": "label", "to_name": "text"})
                    parts.append(sent)
                    offset += len(sent) + 1
                    middle.extend(b["middle"])
                text = "\n".join(parts)
                for row in ann[first_ann:]:
                    row["text"] = text[row["start"]:row["end"]]
                extra = {"file": rel or source.name, "line": group[0]["line"]}
                if any(m and m != ["-X-", "_"] for m in middle):
                    extra["columns"] = middle
                items.append({"item_id": item_id, "name": f"{rel or source.name}#{group[0]['line']}",
                              "kind": "text", "data": {"text": text}, "extra": extra})
    finally:
        if gc_was:
            gc.enable()
    annotations = pd.DataFrame(ann)
    annotations.insert(0, "ann_id", np.arange(len(annotations)))
    if len(annotations):
        annotations["region_id"] = "s" + annotations["ann_id"].astype(str)
    sets = pd.DataFrame({"set_id": [i["item_id"] for i in items], "item_id": [i["item_id"] for i in items]})
    labels = pd.DataFrame({"name": sorted(set(annotations["label"])) if len(annotations) else [],
                           "from_name": "label"})
    return Dataset(items=pd.DataFrame(items), sets=sets, annotations=annotations, labels=labels)


def detect(source: Source) -> float:
    rels = source.glob("*.conll", "*.conll2003") if source.kind != "file" else (
        [None] if source.name.lower().endswith((".conll", ".conll2003", ".txt")) else [])
    for rel in rels[:1]:
        with source.open(rel) as f:
            head = f.read(4096).decode("utf-8", "replace")
        if head.lstrip().startswith("-DOCSTART-"):
            return 0.95
        lines = [ln.split() for ln in head.splitlines()[:20] if ln.strip()]
        if lines and all(len(c) >= 2 and _TAG.match(c[-1]) for c in lines[:-1]):
            return 0.6
    return 0.0


register(FormatSpec(name="CONLL2003", aliases=("CoNLL 2003", "conll"), read=read, write=write, detect=detect,
                    shapes=("span",), media=("text",), family="label_studio",
                    description="CoNLL-2003 BIO-tagged tokens (Label Studio's CONLL2003 export)"))
