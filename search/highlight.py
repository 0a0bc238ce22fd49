"""Find the query's words in a passage, as character spans, for the page and the JSON.

Matching is by surface word (`analysis.surface_words`), case-insensitive, with a light
suffix fold ("liberated" finds "liberate", "bridges" finds "bridge"); common function words
are not highlighted. These are not the keyword index's stemmed words, on purpose: the
analysis module says why. In a language other than English a word matches by its Snowball
stem (`analysis.highlight_stem`); in scripts written without spaces (Chinese, Japanese,
Korean, Thai) each query bigram or Thai word is marked where it occurs, overlapping marks
merged into one span.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from semsearch.index.text.analysis import (
    ENGLISH,
    SURFACE_WORD,
    highlight_stem,
    highlight_terms,
    is_segmented,
    light_stem,
    surface_words,
)


@dataclass(frozen=True)
class _Terms:
    """A query's highlight terms, read once per query (cached): the words to compare, the
    pieces of scripts written without spaces, and whether the terms can be looked for in a
    lower-cased passage (`findable`: an English query of ASCII terms)."""

    terms: frozenset[str]
    words: frozenset[str]
    pieces: tuple[str, ...]
    findable: bool


@lru_cache(maxsize=1024)
def _terms(query: str, language: str = ENGLISH) -> _Terms:
    terms = frozenset(highlight_terms(query, language))
    pieces = tuple(sorted(t for t in terms if is_segmented(t)))
    words = terms.difference(pieces)
    # str.lower() and case folding differ beyond ASCII, and other languages compare stems.
    findable = language == ENGLISH and not pieces and all(t.isascii() for t in terms)
    return _Terms(terms, words, pieces, findable)


def find_highlights(text: str, query: str, language: str | None = None) -> list[tuple[int, int]]:
    """Spans of `text` whose words match a content word of `query` (analysed in `language`,
    English when None), in order."""
    language = language if language is not None else ENGLISH
    wanted = _terms(query, language)
    if not wanted.terms:
        return []
    if wanted.pieces:
        spans = _piece_spans(text, list(wanted.pieces))
        spans += [
            m.span()
            for m in SURFACE_WORD.finditer(text)
            if not is_segmented(m.group()) and highlight_stem(m.group(), language) in wanted.words
        ]
        return sorted(spans)
    lowered = text.lower()
    if not wanted.findable or len(lowered) != len(text):
        # Every word, one by one (lower() changed a length, "İ": spans would drift).
        return [
            m.span()
            for m in SURFACE_WORD.finditer(text)
            if highlight_stem(m.group(), language) in wanted.terms
        ]
    # Apostrophes as the terms write them ("’" is one character too, so spans stay put).
    return _found_words(lowered.replace("’", "'"), wanted.terms)


def _found_words(lowered: str, terms: frozenset[str]) -> list[tuple[int, int]]:
    """The spans of the words of a lower-cased passage that start with a term and whose
    `light_stem` is a term: the words checking every word would mark. Each term is looked
    for with `str.find` (no pattern to compile for every new query: compiling one was 0.15
    ms of a SciFact question, docs/benchmarks.md), and only the words it starts are read."""
    starts: set[int] = set()
    for term in terms:
        at = lowered.find(term)
        while at >= 0:
            if at == 0 or _word_starts_at(lowered, at):
                starts.add(at)
            at = lowered.find(term, at + 1)
    spans = []
    for at in sorted(starts):
        match = SURFACE_WORD.match(lowered, at)
        if match is not None and light_stem(match.group()) in terms:
            spans.append(match.span())
    return spans


def _word_starts_at(text: str, at: int) -> bool:
    """Whether a SURFACE_WORD word starts at `at` (> 0): no word character before it, nor a
    word character and an apostrophe ("don't" holds no word "t")."""
    before = text[at - 1]
    if before.isalnum() or before == "_":
        return False
    if before in "'’" and at >= 2:
        previous = text[at - 2]
        return not (previous.isalnum() or previous == "_")
    return True


def _piece_spans(text: str, pieces: list[str]) -> list[tuple[int, int]]:
    """Where each bigram or Thai word occurs in `text` (case-insensitive), overlapping and
    touching occurrences merged: "北京" and "京是" mark "北京是" once."""
    lowered = text.lower()
    if len(lowered) != len(text):  # lower() changed a length: spans would drift
        lowered = text
    found: list[tuple[int, int]] = []
    for piece in pieces:
        start = lowered.find(piece)
        while start >= 0:
            found.append((start, start + len(piece)))
            start = lowered.find(piece, start + 1)
    merged: list[tuple[int, int]] = []
    for start, end in sorted(found):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def best_sentence(
    text: str,
    query: str,
    sentences: Sequence[tuple[int, int]],
    highlights: Sequence[tuple[int, int]] | None = None,
    language: str | None = None,
) -> tuple[int, int] | None:
    """Of the passage's `sentences` (offsets in `text`, stored at build time), the one
    sharing the most distinct query terms (ties: the earlier one); None if none shares any.
    `highlights` are `find_highlights(text, query, language)` when the caller has them."""
    spans = find_highlights(text, query, language) if highlights is None else highlights
    best: tuple[int, int] | None = None
    best_count = 0
    for start, end in sentences:
        found: set[str] = set()
        for a, b in spans:
            if start <= a and b <= end:
                piece = text[a:b]
                # A merged span of a segmented script counts by its characters: the more of
                # the query's characters, the better.
                found.update(piece if is_segmented(piece) else [highlight_stem(piece, language)])
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

#: Kept passages checked one by one before `NearDuplicates` builds its shingle index.
INDEXED_AFTER = 32


class NearDuplicates:
    """The passages kept so far, so that each new one is checked against only those that
    could be its near-duplicate (`near_duplicate`: the same Jaccard, the same threshold),
    not against every one: checking pairwise made a deep page quadratic in its depth.

    A first page keeps about k passages, and checking each new one against those few
    (their sizes rule most out at once) costs less than indexing every shingle of every kept
    passage, which was most of a hit's time (docs/benchmarks.md, "Where a query's CPU
    goes"). Past INDEXED_AFTER kept passages every kept passage's shingles are indexed: a
    passage b with Jaccard >= t to a new one a shares at least o = ceil(t |a|) of a's
    shingles, so it shares one of any |a| - o + 1 of them (the prefix filter of Bayardo et
    al., "Scaling up all pairs similarity search", 2007). Those looked up are a's rarest
    among the kept passages: a sentence every hit repeats ("the government said in a
    statement") would otherwise make every kept passage a candidate again. The few
    candidates are then checked exactly. Either way the answer is the same."""

    def __init__(self, indexed_after: int = INDEXED_AFTER) -> None:
        self._kept: list[Shingles] = []
        self._indexed_after = indexed_after
        self._by_shingle: dict[tuple[str, ...], list[int]] | None = (
            {} if indexed_after <= 0 else None
        )

    def __len__(self) -> int:
        return len(self._kept)

    def add_if_new(self, words: Shingles) -> bool:
        """Keep `words` unless it nearly repeats a passage kept already; True if kept."""
        if words and any(near_duplicate(words, self._kept[i]) for i in self._candidates(words)):
            return False
        position = len(self._kept)
        self._kept.append(words)
        if self._by_shingle is None and len(self._kept) > self._indexed_after:
            self._by_shingle = {}
            for index, kept in enumerate(self._kept):
                self._index(kept, index)
        elif self._by_shingle is not None:
            self._index(words, position)
        return True

    def _candidates(self, words: Shingles) -> list[int]:
        """The kept passages that could be a near-duplicate of `words`, in kept order."""
        postings = self._by_shingle
        if postings is None:
            return list(range(len(self._kept)))
        # The least overlap Jaccard >= t allows, rounded down a hair so that a float
        # product such as 0.8 * 15 = 12.000000000000002 cannot make the probe one short.
        overlap = max(1, math.ceil(NEAR_DUPLICATE * len(words) - 1e-9))
        # Shingles no kept passage has are looked up for nothing: they fill the probe
        # first, and only the rest of it is taken from the rarest of the others.
        present = [gram for gram in words if gram in postings]
        wanted = len(present) - overlap + 1
        candidates: set[int] = set()
        if wanted > 0:
            present.sort(key=lambda gram: len(postings[gram]))
            for gram in present[:wanted]:
                candidates.update(postings[gram])
        return sorted(candidates)

    def _index(self, words: Shingles, position: int) -> None:
        assert self._by_shingle is not None
        for gram in words:
            self._by_shingle.setdefault(gram, []).append(position)
