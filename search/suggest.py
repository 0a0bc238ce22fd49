"""Search suggestions: what a reader may be typing, from the index's titles and the phrases
that recur across them (`GET /api/suggest?q=PREFIX`).

The entries are every distinct title and every phrase of two or three words that starts
and ends with a content word and occurs in at least `MIN_PHRASE_TITLES` titles, each with a
weight (how many titles it is, or is in). They are kept sorted by their folded text (lower
case, accents off, spaces collapsed), so the entries that start with a prefix are one
range found by binary search, and the best of that range are taken by weight with one
partial sort; at a million entries that is well under a millisecond for a long prefix and
a few for a one-letter one (docs/benchmarks.md, "Suggestions").

Phrases come from titles, not from the passages: reading every passage's text would make
loading an index of a million passages take minutes, and titles are what readers recall.
The set is built once per index version, by `SearchService.warm_up` (before a new version
is served) or on first use; a live index's suggestions are those of the version as loaded.
"""

from __future__ import annotations

import bisect
import logging
import re
import threading
import time
import unicodedata
from array import array
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from semsearch.index.text.analysis import STOP_WORDS

log = logging.getLogger(__name__)

#: Titles a phrase must occur in to be offered.
MIN_PHRASE_TITLES = 3
#: Phrase lengths, in words.
PHRASE_WORDS = (2, 3)
#: Longest prefix looked up, in characters; a longer one is answered for its first ones.
MAX_PREFIX_CHARS = 100
#: Longest suggestion kept (a longer title is cut at a word before it).
MAX_SUGGESTION_CHARS = 120
#: Most suggestions one request may ask for.
MAX_SUGGESTIONS = 20

_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Suggestion:
    """One suggestion: the text to offer, what it is (a title or a phrase) and its weight."""

    text: str
    kind: str
    weight: int


def fold(text: str) -> str:
    """The text as suggestions compare it: lower case, accents off, spaces collapsed."""
    text = " ".join(text.split()).lower()
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    return text


class Suggester:
    """The suggestions of one index version; thread-safe once built (it only reads)."""

    def __init__(self, titles: Iterable[str]) -> None:
        started = time.perf_counter()
        shown: dict[str, str] = {}
        title_weight: Counter[str] = Counter()
        kept_titles: list[str] = []
        # Phrases are counted by hash first: most of a large collection's phrases occur
        # once, and a table of all of them as text would take gigabytes at a million titles.
        hashes = array("q")  # 8 bytes a phrase, not a Python int's 36
        for raw in titles:
            title = _shortened(" ".join(raw.split()))
            if not title:
                continue
            key = fold(title)
            if key not in shown:
                shown[key] = title
                kept_titles.append(title)
            title_weight[key] += 1
            hashes.extend(hash(folded) for _, folded in _phrases(title))
        counted, counts = np.unique(np.frombuffer(hashes, dtype=np.int64), return_counts=True)
        del hashes
        frequent = set(counted[counts >= MIN_PHRASE_TITLES].tolist())
        phrases: Counter[str] = Counter()
        phrase_shown: dict[str, str] = {}
        for key, title in ((fold(t), t) for t in kept_titles):
            repeats = title_weight[key]  # a title listed n times counts its phrases n times
            for phrase, folded in _phrases(title):
                if hash(folded) in frequent:
                    phrases[folded] += repeats
                    phrase_shown.setdefault(folded, phrase)
        entries: dict[str, tuple[str, str, int]] = {
            key: (shown[key], "title", count) for key, count in title_weight.items()
        }
        for key, count in phrases.items():
            if count >= MIN_PHRASE_TITLES:
                kept = entries.get(key)
                # A phrase that is also a whole title is one entry, as heavy as both.
                weight = count + (kept[2] if kept else 0)
                entries[key] = (kept[0] if kept else phrase_shown[key], "phrase", weight)
        self._keys = sorted(entries)
        self._shown = [entries[k][0] for k in self._keys]
        self._kinds = [entries[k][1] for k in self._keys]
        self._weights = np.asarray([entries[k][2] for k in self._keys], dtype=np.int64)
        self.build_ms = (time.perf_counter() - started) * 1000

    @property
    def size(self) -> int:
        return len(self._keys)

    def suggest(self, prefix: str, limit: int = 10) -> list[Suggestion]:
        """The `limit` heaviest entries that start with `prefix` (folded), heaviest first,
        then shortest, then in alphabetical order."""
        key = fold(prefix)[:MAX_PREFIX_CHARS]
        if not key or limit <= 0:
            return []
        low = bisect.bisect_left(self._keys, key)
        high = bisect.bisect_left(self._keys, key + "\U0010ffff", lo=low)
        if low >= high:
            return []
        weights = self._weights[low:high]
        # A few more than asked, so that ties at the cut are ordered by length and text.
        wanted = min(len(weights), limit * 4)
        if wanted < len(weights):
            best = np.argpartition(-weights, wanted - 1)[:wanted] + low
        else:
            best = np.arange(low, high)
        ranked = sorted(
            (int(n) for n in best),
            key=lambda n: (-int(self._weights[n]), len(self._keys[n]), self._keys[n]),
        )[:limit]
        return [Suggestion(self._shown[n], self._kinds[n], int(self._weights[n])) for n in ranked]


class LazySuggester:
    """A Suggester built on first use, once, from a function that lists the titles (an
    index of a million passages takes seconds to read; `SearchService.warm_up` builds it
    before the version is served)."""

    def __init__(self, titles: Callable[[], Iterable[str]]) -> None:
        self._titles = titles
        self._built: Suggester | None = None
        self._lock = threading.Lock()

    def get(self) -> Suggester:
        built = self._built
        if built is not None:
            return built
        with self._lock:
            if self._built is None:
                self._built = Suggester(self._titles())
                log.info(
                    "suggestions: %d entries, built in %.0f ms",
                    self._built.size,
                    self._built.build_ms,
                )
            return self._built


def _shortened(title: str) -> str:
    """The title, cut at a word boundary to MAX_SUGGESTION_CHARS."""
    if len(title) <= MAX_SUGGESTION_CHARS:
        return title
    cut = title[:MAX_SUGGESTION_CHARS].rsplit(" ", 1)[0]
    return cut or title[:MAX_SUGGESTION_CHARS]


def _phrases(title: str) -> list[tuple[str, str]]:
    """The title's phrases of PHRASE_WORDS words that start and end with a content word,
    as written and folded (each once per title)."""
    words = _WORD.findall(title)
    folded = _WORD.findall(fold(title))
    if len(folded) != len(words):  # folding joined or split a word: fold word by word
        folded = [fold(w) for w in words]
    found: dict[str, str] = {}
    for size in PHRASE_WORDS:
        for start in range(len(words) - size + 1):
            first, last = folded[start], folded[start + size - 1]
            if first in STOP_WORDS or last in STOP_WORDS or first.isdigit() or last.isdigit():
                continue
            key = " ".join(folded[start : start + size])
            if key not in found:
                found[key] = " ".join(words[start : start + size])
    return [(phrase, key) for key, phrase in found.items()]
