"""Find the query's words in a passage, as character spans, for the page and the JSON.

Matching is by surface word (`analysis.surface_words`), case-insensitive, with a light
suffix fold ("liberated" finds "liberate", "bridges" finds "bridge"); common function words
are not highlighted. These are not the keyword index's stemmed words, on purpose: the
analysis module says why.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache

from semsearch.index.text.analysis import (
    SURFACE_WORD,
    highlight_terms,
    light_stem,
    surface_words,
)


@lru_cache(maxsize=1024)
def _candidates(query: str) -> tuple[frozenset[str], re.Pattern[str] | None]:
    """The query's terms, and a pattern finding the words that start with one of them (the
    regex engine scans the passage; Python then checks each candidate word's fold, so the
    spans are those of checking every word, in 2/3 of the time on SciFact); None for
    non-ASCII terms."""
    terms = frozenset(highlight_terms(query))
    if not terms or not all(t.isascii() for t in terms):
        return terms, None  # str.lower() and the regex's case folding differ beyond ASCII
    # Longest first, so that no term stops short of a longer one; a word starts where no
    # word character (nor a word character and an apostrophe) comes just before, and runs
    # on as SURFACE_WORD does.
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
        return [m.span() for m in SURFACE_WORD.finditer(text) if light_stem(m.group()) in terms]
    return [m.span() for m in pattern.finditer(text) if light_stem(m.group()) in terms]


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
        found = {light_stem(text[a:b]) for a, b in spans if start <= a and b <= end}
        if len(found) > best_count:
            best, best_count = (start, end), len(found)
    return best


def shingle(text: str, size: int = 3) -> set[tuple[str, ...]]:
    """Word `size`-grams of a passage, lower-cased, for near-duplicate detection."""
    words = surface_words(text.lower())
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


Shingles = set[tuple[str, ...]]


class NearDuplicates:
    """The passages kept so far, so that each new one is checked against only those that
    could be its near-duplicate (`near_duplicate`: the same Jaccard, the same threshold),
    not against every one: checking pairwise made a deep page quadratic in its depth.

    Every kept passage's shingles are indexed. A passage b with Jaccard >= t to a new one a
    shares at least o = ceil(t |a|) of a's shingles, so it shares one of any |a| - o + 1 of
    them (the prefix filter of Bayardo et al., "Scaling up all pairs similarity search",
    2007). Those looked up are a's rarest among the kept passages: a sentence every hit
    repeats ("the government said in a statement") would otherwise make every kept passage
    a candidate again. The few candidates are then checked exactly."""

    def __init__(self) -> None:
        self._kept: list[Shingles] = []
        self._by_shingle: dict[tuple[str, ...], list[int]] = {}

    def __len__(self) -> int:
        return len(self._kept)

    def add_if_new(self, words: Shingles) -> bool:
        """Keep `words` unless it nearly repeats a passage kept already; True if kept."""
        if words:
            # The least overlap Jaccard >= t allows, rounded down a hair so that a float
            # product such as 0.8 * 15 = 12.000000000000002 cannot make the probe one short.
            overlap = max(1, math.ceil(NEAR_DUPLICATE * len(words) - 1e-9))
            postings = self._by_shingle
            # Shingles no kept passage has are looked up for nothing: they fill the probe
            # first, and only the rest of it is taken from the rarest of the others.
            present = [gram for gram in words if gram in postings]
            wanted = len(present) - overlap + 1
            candidates: set[int] = set()
            if wanted > 0:
                present.sort(key=lambda gram: len(postings[gram]))
                for gram in present[:wanted]:
                    candidates.update(postings[gram])
            if any(near_duplicate(words, self._kept[i]) for i in sorted(candidates)):
                return False
        position = len(self._kept)
        self._kept.append(words)
        for gram in words:
            self._by_shingle.setdefault(gram, []).append(position)
        return True
