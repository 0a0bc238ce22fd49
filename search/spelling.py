"""Did you mean: a query word the index does not know (or barely knows) corrected towards a
close, frequent word of the keyword side's vocabulary.

The vocabulary is the backend's index words held by at least `MIN_PASSAGES` passages
(`Backend.frequent_words`), read once when the index version loads. Close means an edit
distance (insertions, deletions, substitutions, adjacent transpositions) of at most 1 for
words of up to four letters and 2 for longer ones. Candidates are found as SymSpell finds
them (Wolf Garbe's symmetric deletes): every word's first `PREFIX` letters with none or one
letter deleted, hashed into one sorted array, looked up with the query word's prefix with
up to two letters deleted; each candidate found is then checked against the whole word. A
word typed with two letters missing from its first `PREFIX` is not found (that would take
every two-letter delete of the vocabulary: about three times the memory and build time).
Memory and time at a realistic vocabulary: docs/benchmarks.md, "Did you mean".

A query word is checked when no passage holds it (any frequent neighbour will do) or fewer
than `MIN_PASSAGES` do (then only a neighbour `RARE_RATIO` times as frequent as that, a
likely typo of a common word rather than a rare name). The best neighbour is the closest,
then the most frequent. Index words are stems ("climat"), so the correction shown is the
word as typed with its stem swapped ("clmate" -> "climate"), kept only when it analyses to
the corrected stem; otherwise the word is left alone.

The service answers for the correction only when the query as typed finds nothing and, if
it was refused as too far from every passage, the correction comes much closer (`typo_gain`;
an off-topic question "corrected" into the collection's words mostly does not), and says so
("Showing results for ..., search instead for ..."); otherwise the correction is offered as
a link (`SearchResult.spelling`).
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

import numpy as np

from semsearch.index.text.analysis import (
    ENGLISH,
    analysed_language,
    query_words,
    thread_stemmer,
)
from semsearch.search.backends.base import Backend
from semsearch.search.results import SearchResult, Spelling

log = logging.getLogger(__name__)

#: Passages a word must be in to be a correction (and a query word in fewer is checked).
MIN_PASSAGES = 3
#: A word some passages hold is corrected only towards a word this many times as frequent
#: as MIN_PASSAGES (so at least RARE_RATIO * MIN_PASSAGES passages).
RARE_RATIO = 20
#: Letters of a word the deletes are taken from (SymSpell's prefix length).
PREFIX = 7
#: Words shorter than this are never corrected (too many neighbours to choose from).
MIN_LETTERS = 3
#: Most query words checked: a pasted paragraph is not spell-checked word by word.
MAX_CHECKED = 16
#: How much closer (cosine) a correction must bring a query refused as too far from every
#: passage, where the index has no calibration to scale it by (`typo_gain`).
TYPO_GAIN = 0.1

#: A word of a query, as split for correction: letters only (numbers, codes are left alone).
_WORD = re.compile(r"[^\W\d_]+")
#: What a query is split into first: its whitespace-separated tokens.
_TOKEN = re.compile(r"\S+")
#: Apostrophes ("'" and "’").
_APOSTROPHES = "'’"


def _left_alone(token: str) -> bool:
    """A token with a digit, or with a capital letter after its first letter: a code, a gene
    or an acronym, not a misspelt word."""
    letters = [c for c in token if c.isalpha()]
    return any(c.isdigit() for c in token) or any(c.isupper() for c in letters[1:])


def _inside_apostrophes(text: str, start: int, end: int) -> bool:
    """Whether the word text[start:end] touches an apostrophe with a letter beyond it: a
    piece of "don't" or "O'Neill", not a word of its own."""
    before = start >= 2 and text[start - 1] in _APOSTROPHES and text[start - 2].isalpha()
    after = end + 1 < len(text) and text[end] in _APOSTROPHES and text[end + 1].isalpha()
    return before or after


@functools.lru_cache(maxsize=4096)
def _word_stems(word: str, language: str | None) -> tuple[str, ...]:
    """One surface word's index words (query words repeat: "the", "of", "cells")."""
    return tuple(query_words(word, language=language))


class Speller:
    """Corrections towards one index's frequent words; built once at load, thread-safe."""

    def __init__(self, words: dict[str, int], backend: Backend | None = None) -> None:
        self._backend = backend
        self._words = [w for w in words if len(w) >= MIN_LETTERS and w.isalpha()]
        self._counts = np.asarray([words[w] for w in self._words], dtype=np.int64)
        self._lengths = np.asarray([len(w) for w in self._words], dtype=np.int64)
        # Every word's prefix and its one-letter deletes, hashed, in one sorted array (built
        # with array operations: a Python loop over a large vocabulary took seconds).
        codes = _codes([w[:PREFIX] for w in self._words])
        lengths = np.asarray([min(len(w), PREFIX) for w in self._words], dtype=np.int64)
        numbers = np.arange(len(self._words), dtype=np.int32)
        keys, owners = [_hashes(codes)], [numbers]
        for column in range(PREFIX):
            inside = lengths > column  # deleting a padding column repeats the prefix
            keys.append(_hashes(np.delete(codes[inside], column, axis=1)))
            owners.append(numbers[inside])
        all_keys = np.concatenate(keys)
        order = np.argsort(all_keys, kind="stable")
        self._keys = all_keys[order]
        self._owners = np.concatenate(owners)[order]
        self._known = words
        #: Whether some passage holds a surface word (`WordIndex.holds`), where the index
        #: can tell: a correction is then one a passage spells ("bullied" is not "fullied").
        self.surface_held: Callable[[str], bool] | None = None

    @classmethod
    def load(cls, backend: Backend) -> Speller | None:
        """The speller of `backend`'s vocabulary; None where it cannot list its words."""
        started = time.perf_counter()
        words = backend.frequent_words(MIN_PASSAGES)
        if words is None:
            return None
        speller = cls(words, backend)
        log.info(
            "did you mean: %d words, %.1f MB, built in %.0f ms",
            speller.size,
            speller.nbytes() / 1e6,
            (time.perf_counter() - started) * 1000,
        )
        return speller

    @property
    def size(self) -> int:
        """How many words corrections are chosen from."""
        return len(self._words)

    def nbytes(self) -> int:
        """The memory of the lookup arrays (the word list itself aside)."""
        arrays = (self._keys, self._owners, self._counts, self._lengths)
        return int(sum(a.nbytes for a in arrays))

    def correct(self, text: str, language: str | None = None) -> str | None:
        """`text` with each unknown or rare word replaced by its best correction; None when
        no word needs one. Left alone, as word processors leave them: a word with a digit or
        with a capital past its first letter (a code, a gene, an acronym: "NLRP3", "AZT",
        "McAdam") and the pieces of a word with an apostrophe inside ("don't")."""
        pieces: list[str] = []
        last, changed, checked = 0, False, 0
        for token in _TOKEN.finditer(text):
            written = token.group()
            if _left_alone(written):
                continue
            for match in _WORD.finditer(written):
                if checked >= MAX_CHECKED:
                    break
                checked += 1
                start, end = token.start() + match.start(), token.start() + match.end()
                if _inside_apostrophes(text, start, end):
                    continue
                fixed = self.correct_word(match.group(), language)
                if fixed is not None:
                    pieces.append(text[last:start])
                    pieces.append(fixed)
                    last, changed = end, True
            if checked >= MAX_CHECKED:
                break
        if not changed:
            return None
        pieces.append(text[last:])
        return "".join(pieces)

    def correct_word(self, word: str, language: str | None = None) -> str | None:
        """The correction of one surface word, as it would be typed; None to leave it."""
        stems = _word_stems(word, language)
        if len(stems) != 1:
            return None  # a stop word, or a script segmented into several terms
        stem = stems[0]
        if len(stem) < MIN_LETTERS or stem in self._known or not stem.isalpha():
            return None
        least = MIN_PASSAGES
        if self._held_somewhere(word, language):
            least = RARE_RATIO * MIN_PASSAGES
        best = self._nearest(stem, least)
        if best is None:
            return None
        return _as_typed(word, stem, best, language, self.surface_held)

    def _held_somewhere(self, word: str, language: str | None) -> bool:
        """Whether some passage holds the word (the vocabulary read at load has only the
        frequent ones)."""
        if self._backend is None:
            return False
        return self._backend.keyword_coverage(word, language) > 0

    def _nearest(self, stem: str, least: int) -> str | None:
        """The closest, then most frequent, word held by at least `least` passages."""
        limit = 1 if len(stem) <= 4 else 2
        wanted = _hashes(_codes(sorted(_deletes(stem))))
        starts = np.searchsorted(self._keys, wanted, side="left")
        ends = np.searchsorted(self._keys, wanted, side="right")
        found = np.unique(
            np.concatenate([self._owners[s:e] for s, e in zip(starts, ends, strict=True)])
        )
        # Frequency and length first, as arrays: only those left are compared letter by letter.
        found = found[
            (self._counts[found] >= least) & (np.abs(self._lengths[found] - len(stem)) <= limit)
        ]
        best: tuple[int, int, str] | None = None
        for number in found.tolist():
            count = int(self._counts[number])
            candidate = self._words[number]
            distance = edit_distance(stem, candidate, limit)
            if distance > limit:
                continue
            ranked = (distance, -count, candidate)
            if best is None or ranked < best:
                best = ranked
        return None if best is None else best[2]


def typo_gain(no_match: Mapping[str, Any] | None) -> float:
    """How much closer (cosine) a correction must bring a refused query to the collection for
    the service to answer for it: a third of the way from the build's off-topic probes'
    median to its on-topic probes' median (`search.calibration`; 0.097 on SciFact with the
    default model), TYPO_GAIN where the index was not calibrated."""
    try:
        on = float(no_match["on_topic"]["median"])  # type: ignore[index]
        off = float(no_match["off_topic"]["median"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return TYPO_GAIN
    return (on - off) / 3 if on > off else TYPO_GAIN


def with_spelling(
    speller: Speller | None,
    result: SearchResult,
    search: Callable[[str], SearchResult],
    may_apply: bool = True,
    gain: float = TYPO_GAIN,
) -> SearchResult:
    """`result` with its spelling correction, if the query has one: answered for (`search`
    of the corrected text) when `result` found nothing, `may_apply` allows it and the
    correction finds something, and, where the query was refused as too far from every
    passage, the correction brings it at least `gain` closer (`typo_gain`); else only
    offered. A typo seldom moves a question that far (the model reads "Aterioles" close to
    "Arterioles"); an off-topic question's rare words "corrected" into the collection's
    ("condolences" -> "condom", "president" -> "resident") mostly do not: measured in
    docs/relevance.md, "Did you mean and refusals"."""
    if speller is None:
        return result
    suggestion = speller.correct(result.query, result.language)
    if suggestion is None or suggestion == result.query:
        return result
    if may_apply and not result.hits and not result.past_end:
        again = search(suggestion)
        closer = (
            result.closest is None
            or again.closest is None
            or again.closest - result.closest >= gain
        )
        if again.hits and closer:
            return replace(again, spelling=Spelling(result.query, again.query, applied=True))
    return replace(result, spelling=Spelling(result.query, suggestion))


def _deletes(word: str) -> set[str]:
    """A query word's first PREFIX letters, and those with one or two letters deleted (the
    vocabulary's side keeps one: a word typed with two letters too many is found, one typed
    with two letters missing is not)."""
    prefix = word[:PREFIX]
    once = {prefix[:i] + prefix[i + 1 :] for i in range(len(prefix))}
    twice = {w[:i] + w[i + 1 :] for w in once for i in range(len(w))}
    return {prefix} | once | twice


def _codes(prefixes: list[str]) -> np.ndarray:
    """The code points of each prefix, a row each, padded with zeros to PREFIX columns."""
    if not prefixes:
        return np.zeros((0, PREFIX), dtype=np.uint64)
    packed = "".join(p.ljust(PREFIX, "\0") for p in prefixes).encode("utf-32-le")
    return np.frombuffer(packed, dtype=np.uint32).reshape(-1, PREFIX).astype(np.uint64)


#: The polynomial hash's powers (any odd 64-bit multiplier; arithmetic wraps modulo 2**64).
_POWERS = np.cumprod(np.full(PREFIX, 0x9E3779B97F4A7C15, dtype=np.uint64), dtype=np.uint64)


def _hashes(codes: np.ndarray) -> np.ndarray:
    """One 64-bit hash per row: trailing zeros add nothing, so a row and the same row with
    fewer padding columns hash alike. Collisions only add candidates, which are checked."""
    total: np.ndarray = (codes * _POWERS[: codes.shape[1]]).sum(axis=1, dtype=np.uint64)
    return total.view(np.int64)


def _as_typed(
    word: str,
    stem: str,
    corrected: str,
    language: str | None,
    held: Callable[[str], bool] | None = None,
) -> str | None:
    """The correction as a reader would type it, in the typed case: the first one-letter edit
    of the typed word that analyses to the corrected stem ("clmate" -> "climate"), else the
    typed word with its stem swapped for the corrected one where something followed the
    stem ("govrenmentally": "govren" + "mentally" -> "govern" + "mentally"), else the
    corrected stem itself; None when none of them analyses to the corrected stem or is as
    close to the typed word as the stems were to each other (the stems of "condolences" and
    "condom" are one letter apart, the words six: no correction)."""
    lowered = word.lower()
    limit = 1 if len(lowered) <= 4 else 2
    tried = [w for w in _one_edit(lowered) if w != corrected]  # a word over a bare stem
    if lowered.startswith(stem) and len(lowered) > len(stem):
        tried.append(corrected + lowered[len(stem) :])
    tried.append(corrected)  # many stems are words ("harbour"); searched, it finds the same
    # Stemmed in one call first (a few hundred words); the analysis itself confirms.
    stems = _stems(tried, language)
    for candidate, stem_of in zip(tried, stems, strict=True):
        if stem_of not in (None, corrected):
            continue
        if edit_distance(lowered, candidate, limit) > limit:
            continue
        if held is not None and not held(candidate):
            continue  # not a word any passage spells
        if query_words(candidate, language=language) == [corrected]:
            if word[:1].isupper():
                candidate = candidate[:1].upper() + candidate[1:]
            return candidate
    return None


def _stems(words: list[str], language: str | None) -> list[str | None]:
    """Each word's English stem in one call (English index words of lower-case ASCII words
    are their stems); None each in another language (each is then analysed on its own)."""
    if analysed_language(language) != ENGLISH:
        return [None] * len(words)
    return list(thread_stemmer().stemWords(words))


def _one_edit(word: str) -> list[str]:
    """The words one edit away from `word`, in the order they are preferred: a transposed
    pair, a letter inserted, a letter replaced, a letter deleted (letters of the word and
    a-z)."""
    letters = sorted(set(word) | set("abcdefghijklmnopqrstuvwxyz"))
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    transposed = [a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1]
    inserted = [a + c + b for a, b in splits for c in letters]
    replaced = [a + c + b[1:] for a, b in splits if b for c in letters if c != b[0]]
    deleted = [a + b[1:] for a, b in splits if b]
    return list(dict.fromkeys(transposed + inserted + replaced + deleted))


def edit_distance(a: str, b: str, limit: int) -> int:
    """The optimal-string-alignment distance of `a` and `b` (Levenshtein with adjacent
    transpositions), or `limit + 1` once it is surely larger than `limit`."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return previous[-1]
