"""A small Treebank-style word tokenizer that returns character spans (for CoNLL export).

It follows the Penn Treebank rules as Label Studio's CoNLL export modifies them, written as
a few regular expressions so no NLTK is needed: split on whitespace; split off brackets,
double quotes, ``; @ # $ / % & ? !``, ``--`` and ``...``; split ``,`` and ``:`` unless a
digit follows ("1,000" stays one token); split the clitics ``n't 's 're 've 'll 'd 'm``, a
word-final ``'`` and fused words ("cannot" -> "can" "not", "gonna"); and split a period
only at the very end of the text, so abbreviations inside it stay whole ("Corp." is one
token, "year." at the end is "year" + "."). With ``sentences=True`` a period also ends a word
when the next word starts with a capital letter and the word is no common abbreviation, and
every ``. ! ?`` token ends a sentence.
"""
from __future__ import annotations

import re

_SEP_ALT = r"\.\.\.|--|``|''|[;@#$/%&?!()\[\]{}<>\"]|[:,](?!\d)"
# a word runs until whitespace or a separator; ',' ':' stay inside before a digit ("1,000", "10:30")
_WORD_ALT = r"(?:[^\s;@#$/%&?!()\[\]{}<>\":,.\-`']|[:,](?=\d)|\.(?!\.\.)|-(?!-)|`(?!`)|'(?!'))+"
_TOKEN = re.compile(f"(?P<sep>{_SEP_ALT})|(?P<word>{_WORD_ALT})|(?P<other>\\S)")
_CLITIC = re.compile(r"(?i)^(.+?)(n't|'s|'re|'ve|'ll|'d|'m)$")
# Treebank's fused words, split in two: cannot, gimme, gonna, gotta, lemme, wanna, more'n, d'ye, 'tis, 'twas
_FUSED = re.compile(r"(?i)^(?:(can)(not)|(gim)(me)|(gon)(na)|(got)(ta)|(lem)(me)|(wan)(na)|(more)('n)|(d)('ye)"
                    r"|('t)(is)|('t)(was))$")
_FUSED_WORDS = frozenset("cannot gimme gonna gotta lemme wanna more'n d'ye 'tis 'twas".split())
_ABBREV = frozenset("mr mrs ms dr prof st jr sr inc corp ltd co vs etc e.g i.e no fig al gen col lt sgt".split())
_ENDERS = frozenset({".", "!", "?"})


def _word(text: str, s: int, e: int, split_period: bool) -> list[tuple[int, int]]:
    """Split a final period (when asked), a trailing quote, a fused word or a clitic off one word."""
    tail: list[tuple[int, int]] = []
    if split_period and e - s > 1 and text[e - 1] == ".":
        tail.insert(0, (e - 1, e))
        e -= 1
    if e - s > 1 and text[e - 1] == "'" and not _CLITIC.match(text[s:e]):
        tail.insert(0, (e - 1, e))
        e -= 1
    f = _FUSED.match(text[s:e])
    if f:
        cut = s + len(next(g for g in f.groups() if g))
        return [(s, cut), (cut, e), *tail]
    m = _CLITIC.match(text[s:e])
    if m and m.group(1):
        cut = s + len(m.group(1))
        return [(s, cut), (cut, e), *tail]
    return [(s, e), *tail]


def tokenize(text: str, sentences: bool = False) -> tuple[list[tuple[int, int]], list[bool]]:
    """Token character spans of ``text`` and, per token, whether a sentence ends after it."""
    found = [(m.start(), m.end(), m.lastgroup == "word") for m in _TOKEN.finditer(text)]
    last_word = max((i for i, p in enumerate(found) if p[2]), default=-1)
    n_text = len(text)
    spans: list[tuple[int, int]] = []
    for i, (s, e, word) in enumerate(found):
        last = text[e - 1]
        if not word or (last not in ".'" and "'" not in text[s:e] and (e - s > 7 or text[s:e].lower() not in
                                                                         _FUSED_WORDS)):
            spans.append((s, e))  # the common case: nothing to split off
            continue
        split_period = i == last_word
        if sentences and not split_period and last == "." and e < n_text and text[e].isspace():
            nxt = found[i + 1][0] if i + 1 < len(found) else None
            w = text[s:e - 1]
            split_period = (nxt is not None and text[nxt].isupper() and "." not in w and w.lower() not in _ABBREV
                            and len(w) > 1)
        spans.extend(_word(text, s, e, split_period))
    ends = [sentences and text[s:e] in _ENDERS for s, e in spans]
    if ends:
        ends[-1] = True
    return spans, ends
