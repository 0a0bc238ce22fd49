"""Find the query's words in a passage, as character spans, for the page and the JSON.

Matching is by word, case-insensitive, with a light suffix fold ("liberated" finds
"liberate", "bridges" finds "bridge"); common function words are not highlighted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from semsearch.index.text.analysis import STOP_WORDS

_WORD = re.compile(r"\w+(?:['’]\w+)*")

_SUFFIXES = ("ingly", "edly", "ing", "ies", "ied", "ed", "es", "ly", "s", "e")


@lru_cache(maxsize=100_000)
def fold(word: str) -> str:
    """A crude stem: lower case, one common suffix off, kept at three letters or more."""
    word = word.lower().replace("’", "'")
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def query_terms(query: str) -> set[str]:
    """The folded content words of a query."""
    return {fold(w) for w in _WORD.findall(query) if w.lower() not in STOP_WORDS and len(w) > 1}


@lru_cache(maxsize=1024)
def _candidates(query: str) -> tuple[frozenset[str], re.Pattern[str] | None]:
    """The query's terms, and a pattern finding the words that start with one of them (the
    regex engine scans the passage; Python then checks each candidate word's fold, so the
    spans are those of checking every word, in 2/3 of the time on SciFact); None for
    non-ASCII terms."""
    terms = frozenset(query_terms(query))
    if not terms or not all(t.isascii() for t in terms):
        return terms, None  # str.lower() and the regex's case folding differ beyond ASCII
    # Longest first, so that no term stops short of a longer one; a word starts where no
    # word character (nor a word character and an apostrophe) comes just before.
    alternatives = "|".join(
        re.escape(t).replace("'", "['’]") for t in sorted(terms, key=len, reverse=True)
    )
    pattern = re.compile(rf"(?<!\w)(?<!\w['’])(?:{alternatives})\w*(?:['’]\w+)*", re.IGNORECASE)
    return terms, pattern


def find_highlights(text: str, query: str) -> list[tuple[int, int]]:
    """Spans of `text` whose words match a content word of `query`, in order."""
    terms, pattern = _candidates(query)
    if not terms:
        return []
    if pattern is None:  # every word, one by one
        return [m.span() for m in _WORD.finditer(text) if fold(m.group()) in terms]
    return [m.span() for m in pattern.finditer(text) if fold(m.group()) in terms]


def best_sentence(
    text: str,
    query: str,
    sentences: Sequence[tuple[int, int]],
    highlights: Sequence[tuple[int, int]] | None = None,
) -> tuple[int, int] | None:
    """Of the passage's `sentences` (offsets in `text`, stored at build time), the one
    sharing the most distinct query terms (ties: the earlier one); None if none shares any.
    `highlights` are `find_highlights(text, query)` when the caller has them already."""
    spans = find_highlights(text, query) if highlights is None else highlights
    best: tuple[int, int] | None = None
    best_count = 0
    for start, end in sentences:
        found = {fold(text[a:b]) for a, b in spans if start <= a and b <= end}
        if len(found) > best_count:
            best, best_count = (start, end), len(found)
    return best


def shingle(text: str, size: int = 3) -> set[tuple[str, ...]]:
    """Word `size`-grams of a passage, lower-cased, for near-duplicate detection."""
    words = _WORD.findall(text.lower())
    if len(words) < size:
        return {tuple(words)}
    return set(zip(*(words[i:] for i in range(size)), strict=False))


#: Jaccard similarity of word 3-grams above which two passages count as the same text.
NEAR_DUPLICATE = 0.8


def near_duplicate(a: set[tuple[str, ...]], b: set[tuple[str, ...]]) -> bool:
    """True when two shingle sets overlap so much that one passage repeats the other."""
    if not a or not b:
        return False
    small, large = sorted((len(a), len(b)))
    if small < NEAR_DUPLICATE * large:
        return False  # Jaccard <= small / large: the sizes alone rule it out
    common = len(a & b)
    # |a ∪ b| from the sizes: building the union was two thirds of this check's time.
    return common / (small + large - common) >= NEAR_DUPLICATE
