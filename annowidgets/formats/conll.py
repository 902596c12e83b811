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

import re
from itertools import accumulate

import numpy as np
import pandas as pd

from ..core.dataset import Dataset
from ..core.errors import FormatError
from ..core.gcpause import gc_paused
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
    """The spans CoNLL can hold, per block (``_block``): a region's first label, no overlaps.

    Sorted by block and start. Overlap is checked with a running maximum of earlier ends;
    only blocks where that finds a conflict are walked span by span, so that a dropped span
    does not hide a later one that overlaps only it.
    """
    spans = spans.sort_values(["_block", "start", "_order"], kind="stable")
    region = spans["region_id"].astype(object).where(spans["region_id"].notna(), "#" + spans["ann_id"].astype(str))
    dup = pd.DataFrame({"b": spans["_block"].to_numpy(), "r": region.to_numpy()}).duplicated().to_numpy()
    report.add("annotations", spans.loc[dup, "ann_id"], "span has several labels; CoNLL keeps the first")
    spans = spans[~dup]
    blk = spans["_block"].to_numpy()
    running = spans.groupby("_block", sort=False)["end"].cummax().to_numpy()
    prev_end = np.full(len(spans), -np.inf)
    same = blk[1:] == blk[:-1]
    prev_end[1:][same] = running[:-1][same]
    conflict = spans["start"].to_numpy() < prev_end
    keep = np.ones(len(spans), bool)
    if conflict.any():
        blocks = set(spans["_block"].to_numpy()[conflict])
        idx = np.nonzero(spans["_block"].isin(blocks).to_numpy())[0]
        last_block, last_end = None, -np.inf
        starts, ends, blk = spans["start"].to_numpy(), spans["end"].to_numpy(), spans["_block"].to_numpy()
        for i in idx:
            if blk[i] != last_block:
                last_block, last_end = blk[i], -np.inf
            if starts[i] < last_end:
                keep[i] = False
            else:
                last_end = ends[i]
    report.add("annotations", spans.loc[~keep, "ann_id"], "span overlaps an earlier span; only the first is kept")
    return spans[keep]


def bio_tags(tok_block: np.ndarray, tok_start: np.ndarray, tok_end: np.ndarray, spans: pd.DataFrame,
             width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every token: index of the span it overlaps (-1 for none) and whether it begins it.

    Blocks are laid side by side on one axis (``block * width + offset``), so one
    ``searchsorted`` over all non-overlapping spans tags every token of every block.
    Also returns which spans got a token.
    """
    n = len(spans)
    hit = np.zeros(n, bool)
    span_of = np.full(len(tok_start), -1, np.int64)
    if not n or not len(tok_start):
        return span_of, np.zeros(len(tok_start), bool), hit
    base = spans["_block"].to_numpy(np.int64) * width
    s_start = base + spans["start"].to_numpy(np.int64)
    s_end = base + np.maximum(spans["end"].to_numpy(np.int64), spans["start"].to_numpy(np.int64))
    t_base = tok_block.astype(np.int64) * width
    j = np.searchsorted(s_end, t_base + tok_start, side="right")  # first span ending after the token starts
    ok = j < n
    ok[ok] &= s_start[j[ok]] < (t_base + tok_end)[ok]
    span_of[ok] = j[ok]
    begins = ok.copy()
    begins[1:] &= span_of[1:] != span_of[:-1]
    hit[j[ok]] = True
    return span_of, begins, hit


def write(ds: Dataset, sink: Sink, ctx: WriteContext) -> None:
    a = ds.annotations
    rep = ctx.report
    sentences = bool(ctx.options.get("sentences", False))
    unannotated = ctx.options.get("unannotated", "skip")
    is_span = a["type"] == "span"
    rep.add_mask("annotations", a, ~is_span, "not a text span; CoNLL carries labelled spans only", key="ann_id")
    no_offsets = is_span & (a["start"].isna() | a["end"].isna())
    rep.add_mask("annotations", a, no_offsets, "span without start/end offsets", key="ann_id")
    spans = a[is_span & ~no_offsets].copy()
    spans["_order"] = np.arange(len(spans))
    preds = spans["source"] == "prediction"
    rep.add_mask("annotations", spans, preds, "prediction; CoNLL holds annotations only", key="ann_id")
    spans = spans[~preds]
    sets = ds.sets
    cancelled = sets.loc[sets["cancelled"], "set_id"].dropna()
    in_cancelled = spans["set_id"].isin(cancelled)
    rep.add_mask("annotations", spans, in_cancelled, "in a cancelled annotation set", key="ann_id")
    spans = spans[~in_cancelled]
    texts = _texts(ds, spans)

    # blocks: every (item, set) with spans, plus empty annotation sets, in item then set order
    blocks = sets[(sets["source"] == "annotation") & ~sets["cancelled"]][["item_id", "set_id"]]
    blocks = pd.concat([blocks, spans[["item_id", "set_id"]]])
    if unannotated == "write":
        bare = ds.items.loc[~ds.items["item_id"].isin(blocks["item_id"]), ["item_id"]].assign(set_id=pd.NA)
        blocks = pd.concat([blocks, bare])
    blocks = blocks.assign(_set=blocks["set_id"].astype(str)).drop_duplicates(["item_id", "_set"])
    order = pd.Series(np.arange(len(ds.items)), index=ds.items["item_id"])
    blocks = blocks.assign(_o=blocks["item_id"].map(order)).sort_values("_o", kind="stable").reset_index(drop=True)
    has_text = blocks["item_id"].map(lambda i: texts.get(i) is not None)
    block_no = pd.Series(np.arange(len(blocks)), index=pd.MultiIndex.from_frame(blocks[["item_id", "_set"]]))
    spans["_block"] = block_no.reindex(pd.MultiIndex.from_arrays(
        [spans["item_id"], spans["set_id"].astype(str)])).to_numpy()
    no_text = ~spans["_block"].isin(np.nonzero(has_text.to_numpy())[0])
    rep.add_mask("annotations", spans, no_text, "item has no text in its data; span not written", key="ann_id")
    spans = keep_spans(spans[~no_text], rep)
    ctx.step(0.2, "tokenising")

    # tokens of every block, on one axis
    cache: dict = {}
    tok_block, tok_start, tok_end, tok_sent = [], [], [], []
    block_items = blocks["item_id"].tolist()
    for b in np.nonzero(has_text.to_numpy())[0]:
        item_id = block_items[b]
        if item_id not in cache:
            cache[item_id] = tokenize(texts[item_id], sentences=sentences)
        toks, ends = cache[item_id]
        tok_block.extend([b] * len(toks))
        tok_start.extend(t[0] for t in toks)
        tok_end.extend(t[1] for t in toks)
        tok_sent.extend(ends)
    tok_block = np.asarray(tok_block, np.int64)
    tok_start, tok_end = np.asarray(tok_start, np.int64), np.asarray(tok_end, np.int64)
    width = max((len(t) for t in texts.values() if t is not None), default=0) + 2
    span_of, begins, hit = bio_tags(tok_block, tok_start, tok_end, spans, width)
    rep.add("annotations", spans["ann_id"].to_numpy()[~hit],
            "span covers no token of its own (tokenizer boundary); dropped")
    ctx.step(0.6, "writing")

    labels = spans["label"].to_numpy(object)
    lines = [DOCSTART]
    prev_block = -1
    for b, s, e, j, beg, end in zip(tok_block.tolist(), tok_start.tolist(), tok_end.tolist(), span_of.tolist(),
                                    begins.tolist(), tok_sent, strict=True):
        if b != prev_block and prev_block >= 0 and lines[-1] != "":
            lines.append("")
        prev_block = b
        tag = "O" if j < 0 else ("B-" if beg else "I-") + labels[j]
        lines.append(f"{texts[block_items[b]][s:e]} -X- _ {tag}")
        if end:
            lines.append("")
    if len(lines) > 1 and lines[-1] != "":
        lines.append("")
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
    valid: set[str] = set()  # tags seen and checked; a file has few distinct ones
    for n, raw in enumerate(text.splitlines(), 1):
        cols = raw.split()
        if not cols:
            cur = None
            continue
        if cols[0] == "-DOCSTART-":
            cur, docstart = None, True
            continue
        if len(cols) < 2:
            raise FormatError(where, f"expected 'token … TAG' (at least two columns), got {raw!r}", line=n)
        tag = cols[-1]
        if tag not in valid:
            if not _TAG.match(tag):
                raise FormatError(where, f"tag {tag!r} is not O, B-X, I-X, E-X or S-X", line=n)
            valid.add(tag)
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
    items: list[dict] = []
    c_item, c_start, c_end, c_label, c_text = [], [], [], [], []  # span columns
    with gc_paused():
        for rel in rels:
            where = source.display(rel)
            blocks = _parse(source.read_text(rel), where)
            groups = _documents(blocks) if documents else [[b] for b in blocks]
            for group in groups:
                item_id = len(items)
                parts, offset, middle = [], 0, []
                for b in group:
                    toks = b["tokens"]
                    sent = " ".join(toks)
                    starts = list(accumulate((len(t) + 1 for t in toks[:-1]), initial=0))
                    for first, last, label in decode_tags(b["tags"]):
                        s, e = starts[first], starts[last - 1] + len(toks[last - 1])
                        c_item.append(item_id)
                        c_start.append(s + offset)
                        c_end.append(e + offset)
                        c_label.append(label)
                        c_text.append(sent[s:e])
                    parts.append(sent)
                    offset += len(sent) + 1
                    middle.extend(b["middle"])
                extra = {"file": rel or source.name, "line": group[0]["line"]}
                if any(m and m != ["-X-", "_"] for m in middle):
                    extra["columns"] = middle
                items.append({"item_id": item_id, "name": f"{rel or source.name}#{group[0]['line']}",
                              "kind": "text", "data": {"text": "\n".join(parts)}, "extra": extra})
    n = len(c_item)
    annotations = {"ann_id": np.arange(n), "item_id": c_item, "set_id": c_item, "type": "span", "label": c_label,
                   "start": np.asarray(c_start, np.float64), "end": np.asarray(c_end, np.float64), "text": c_text,
                   "from_name": "label", "to_name": "text", "region_id": [f"s{i}" for i in range(n)]}
    ids = [i["item_id"] for i in items]
    labels = pd.DataFrame({"name": sorted(set(c_label)), "from_name": "label"})
    return Dataset(items=pd.DataFrame(items), sets={"set_id": ids, "item_id": ids},
                   annotations=pd.DataFrame(annotations), labels=labels)


def detect(source: Source) -> float:
    rels = source.glob("*.conll", "*.conll2003") if source.kind != "file" else (
        [None] if source.name.lower().endswith((".conll", ".conll2003", ".txt")) else [])
    for rel in rels[:1]:
        with source.open(rel) as f:
            head = f.read(4096).decode("utf-8", "replace")
        if head.lstrip().startswith("-DOCSTART-"):
            return 0.95
        lines = [ln.split() for ln in head.splitlines()[:20] if ln.strip()][:-1]  # the last may be cut
        if len(lines) >= 2 and all(len(c) >= 2 and _TAG.match(c[-1]) for c in lines):
            return 0.6
    return 0.0


register(FormatSpec(name="CONLL2003", aliases=("CoNLL 2003", "conll"), read=read, write=write, detect=detect,
                    shapes=("span",), media=("text",), family="label_studio",
                    description="CoNLL-2003 BIO-tagged tokens (Label Studio's CONLL2003 export)"))
