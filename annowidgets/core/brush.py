"""Label Studio brush RLE (``"format": "rle"``): the @thi.ng/rle-pack bit stream, in numpy.

Label Studio encodes the whole RGBA canvas (H x W x 4 bytes, R=G=B=A=alpha) with rle-pack.
The stream is MSB-first: a header (32-bit word count N, 5-bit word size - 1, four 4-bit run
length group sizes - 1), then records until N words are out: 1 bit kind (1 = repeat,
0 = literal chunk), 2 bits group g, ``groups[g]`` bits count - 1, then one word (repeat)
or ``count`` words (literal). It is not COCO RLE; :func:`to_coco` / :func:`from_coco`
bridge the two.

Decoding walks records (one Python step per record, never per bit) and expands them with
``np.repeat``; encoding finds runs with ``np.diff`` and packs every field in one
``np.packbits`` call.
"""
from __future__ import annotations

import numpy as np

from .errors import FormatError

DEFAULT_GROUPS = (3, 4, 8, 16)
_WHERE = "<brush rle>"


# -- decoding --------------------------------------------------------------------------------------
class _Bits:
    """Read k-bit big-endian fields at any bit position of a byte string."""

    def __init__(self, data: bytes, where: str):
        self.buf = bytes(data) + b"\0\0\0\0\0"
        self.nbits = len(data) * 8
        self.where = where
        self._bits: np.ndarray | None = None

    def field(self, pos: int, k: int) -> int:
        if pos + k > self.nbits:
            raise FormatError(self.where, f"brush RLE truncated: needs bit {pos + k}, stream has {self.nbits}",
                              position=pos // 8)
        b = pos >> 3
        v = int.from_bytes(self.buf[b:b + 4], "big")
        return (v >> (32 - (pos & 7) - k)) & ((1 << k) - 1)

    def words(self, pos: int, count: int, ws: int) -> np.ndarray:
        end = pos + count * ws
        if end > self.nbits:
            raise FormatError(self.where, f"brush RLE truncated: literal chunk needs bit {end}, "
                              f"stream has {self.nbits}", position=pos // 8)
        if ws == 8 and pos & 7 == 0:
            return np.frombuffer(self.buf, np.uint8, count, pos >> 3)
        if self._bits is None:
            self._bits = np.unpackbits(np.frombuffer(self.buf, np.uint8))
        chunk = self._bits[pos:end].reshape(count, ws).astype(np.uint32)
        return (chunk << np.arange(ws - 1, -1, -1, dtype=np.uint32)).sum(axis=1).astype(np.uint8)


def decode_words(rle, where: str = _WHERE) -> np.ndarray:
    """Decode a brush RLE (list of byte values or bytes) to its flat uint8 word array."""
    data = bytes(rle) if not isinstance(rle, (bytes, bytearray)) else bytes(rle)
    r = _Bits(data, where)
    n = r.field(0, 16) << 16 | r.field(16, 16)
    ws = r.field(32, 5) + 1
    if ws > 8:
        raise FormatError(where, f"brush RLE word size {ws} is not supported (8 bits or fewer)")
    groups = [r.field(37 + 4 * i, 4) + 1 for i in range(4)]
    pos = 53
    vals: list[int] = []  # repeat records collected as (value, count) in Python lists …
    cnts: list[int] = []
    parts: list[tuple[np.ndarray, np.ndarray]] = []  # … and flushed around literal chunks
    done = 0
    field = r.field
    while done < n:
        head = field(pos, 3)
        g = head & 3
        gs = groups[g]
        count = field(pos + 3, gs) + 1
        pos += 3 + gs
        if done + count > n:
            raise FormatError(where, f"brush RLE record at bit {pos} overruns the stream: {done} + {count} words "
                              f"> N = {n}", position=pos // 8)
        if head & 4:
            vals.append(field(pos, ws))
            cnts.append(count)
            pos += ws
        else:
            if vals:
                parts.append((np.array(vals, np.uint8), np.array(cnts, np.int64)))
                vals, cnts = [], []
            lit = r.words(pos, count, ws)
            parts.append((lit, np.ones(count, np.int64)))
            pos += count * ws
        done += count
    if vals:
        parts.append((np.array(vals, np.uint8), np.array(cnts, np.int64)))
    if not parts:
        return np.zeros(0, np.uint8)
    v = np.concatenate([p[0] for p in parts])
    c = np.concatenate([p[1] for p in parts])
    return np.repeat(v, c)


def rle_length(rle) -> int:
    """The word count N from the header (H*W*4 for a Label Studio mask)."""
    data = bytes(rle[:4])
    if len(data) < 4:
        raise FormatError(_WHERE, "brush RLE shorter than its 4-byte header")
    return int.from_bytes(data, "big")


def decode(rle, height: int, width: int, where: str = _WHERE) -> np.ndarray:
    """Decode a Label Studio brush RLE to the H x W uint8 alpha mask (0-255, soft edges kept)."""
    n = rle_length(rle) if len(rle) >= 4 else -1
    if n != height * width * 4:
        raise FormatError(where, f"brush RLE holds {n} words but the image {width}x{height} needs "
                          f"{height * width * 4} (H*W*4)")
    words = decode_words(rle, where)
    return words.reshape(height, width, 4)[..., 3].copy()


# -- encoding --------------------------------------------------------------------------------------
def _pack_fields(values: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """Pack unsigned fields (each < 2**16) MSB-first into bytes, zero-padded to a byte."""
    v16 = values.astype(">u2")
    bits = np.unpackbits(v16.view(np.uint8).reshape(-1, 2), axis=1)  # (F, 16)
    keep = np.arange(16)[None, :] >= (16 - widths)[:, None]
    return np.packbits(bits[keep])


def encode_words(words, word_size: int = 8, groups=DEFAULT_GROUPS) -> list[int]:
    """Encode a flat word array the way the Label Studio frontend does.

    Runs of one word gather into literal chunks; longer runs become repeat records; each
    record uses the smallest group whose capacity holds it, and runs or chunks longer than
    the largest group are split.
    """
    w = np.ascontiguousarray(words, dtype=np.uint8).ravel()
    n = w.size
    groups = tuple(int(g) for g in groups)
    cap = 1 << max(groups)
    head_v = [n >> 16, n & 0xFFFF, word_size - 1, *(g - 1 for g in groups)]
    head_w = [16, 16, 5, 4, 4, 4, 4]
    if n == 0:
        return _pack_fields(np.array(head_v), np.array(head_w)).tolist()
    change = np.flatnonzero(w[1:] != w[:-1]) + 1
    starts = np.concatenate([[0], change])
    lens = np.diff(np.concatenate([starts, [n]]))
    vals = w[starts]
    single = lens == 1
    # literal chunks: maximal stretches of single-word runs, split at ``cap``
    # a record is either a repeat (one run, split at cap) or a literal chunk of singles
    edge = np.flatnonzero(np.diff(np.concatenate([[0], single.view(np.int8), [0]])))
    lit_start, lit_end = edge[0::2], edge[1::2]  # run-index ranges of single stretches
    # repeat records
    rep_idx = np.flatnonzero(~single)
    rep_pieces = -(-lens[rep_idx] // cap)
    rec_run = np.repeat(rep_idx, rep_pieces)
    piece_no = np.arange(rec_run.size) - np.repeat(np.cumsum(rep_pieces) - rep_pieces, rep_pieces)
    rep_cnt = np.minimum(lens[rec_run] - piece_no * cap, cap)
    rep_key = rec_run.astype(np.float64) + piece_no / (rep_pieces.max(initial=1) + 1.0)
    # literal records
    lit_len = lit_end - lit_start
    lit_pieces = -(-lit_len // cap)
    lit_rec = np.repeat(np.arange(lit_start.size), lit_pieces)
    lpiece = np.arange(lit_rec.size) - np.repeat(np.cumsum(lit_pieces) - lit_pieces, lit_pieces)
    lit_first = lit_start[lit_rec] + lpiece * cap  # first run index of the piece
    lit_cnt = np.minimum(lit_len[lit_rec] - lpiece * cap, cap)
    lit_key = lit_first.astype(np.float64) + lpiece * 0.0
    # all records in stream order
    kind = np.concatenate([np.ones(rec_run.size, np.int64), np.zeros(lit_first.size, np.int64)])
    cnt = np.concatenate([rep_cnt, lit_cnt]).astype(np.int64)
    first = np.concatenate([rec_run, lit_first]).astype(np.int64)
    order = np.argsort(np.concatenate([rep_key, lit_key]), kind="stable")
    kind, cnt, first = kind[order], cnt[order], first[order]
    gbits = np.array(groups)
    g = np.searchsorted(1 << gbits, cnt, side="left")  # smallest group with 2**bits >= count
    g = np.minimum(g, 3)
    payload = np.where(kind == 1, 1, cnt)  # words following each record head
    nf = 2 + payload  # fields per record: head(3 bits), count-1, payload words
    rec_start = np.concatenate([[0], np.cumsum(nf)[:-1]])
    total = int(nf.sum())
    fv = np.zeros(total, np.int64)
    fw = np.full(total, word_size, np.int64)
    fv[rec_start] = (kind << 2) | g
    fw[rec_start] = 3
    fv[rec_start + 1] = cnt - 1
    fw[rec_start + 1] = gbits[g]
    # payload values: repeat -> the run's value; literal -> the values of its runs
    word_pos = np.repeat(rec_start + 2, payload) + (np.arange(payload.sum()) - np.repeat(
        np.cumsum(payload) - payload, payload))
    run_of_word = np.repeat(first, payload) + (np.arange(payload.sum()) - np.repeat(
        np.cumsum(payload) - payload, payload)) * np.repeat(kind == 0, payload)
    fv[word_pos] = vals[run_of_word]
    allv = np.concatenate([np.array(head_v, np.int64), fv])
    allw = np.concatenate([np.array(head_w, np.int64), fw])
    return _pack_fields(allv, allw).tolist()


def encode(alpha) -> list[int]:
    """Encode an H x W alpha mask (uint8 0-255, or bool -> 255) as Label Studio brush RLE."""
    a = np.asarray(alpha)
    if a.ndim != 2:
        raise ValueError(f"expected an H x W mask, got shape {a.shape}")
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    return encode_words(np.repeat(a.astype(np.uint8).ravel(), 4))


# -- COCO RLE bridge -----------------------------------------------------------------------------------
def to_coco(alpha: np.ndarray, threshold: int = 1) -> dict:
    """COCO RLE (pycocotools, compressed counts as str) of ``alpha >= threshold``."""
    from pycocotools import mask as cmask

    m = np.asfortranarray((np.asarray(alpha) >= threshold).astype(np.uint8))
    rle = cmask.encode(m)
    return {"size": [int(rle["size"][0]), int(rle["size"][1])], "counts": rle["counts"].decode("ascii")}


def from_coco(rle: dict) -> np.ndarray:
    """H x W uint8 0/1 mask of a COCO RLE dict (compressed str/bytes or uncompressed list counts)."""
    from pycocotools import mask as cmask

    h, w = (int(s) for s in rle["size"])
    counts = rle["counts"]
    if isinstance(counts, list):
        r = cmask.frPyObjects({"size": [h, w], "counts": counts}, h, w)
    else:
        r = {"size": [h, w], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    return np.ascontiguousarray(cmask.decode(r))


def coco_bbox(rle: dict) -> tuple[float, float, float, float]:
    """x, y, w, h of a COCO RLE's foreground (zeros when empty)."""
    from pycocotools import mask as cmask

    r = {"size": rle["size"], "counts": rle["counts"].encode("ascii") if isinstance(rle["counts"], str)
         else rle["counts"]}
    x, y, w, h = cmask.toBbox(r).tolist()
    return x, y, w, h
