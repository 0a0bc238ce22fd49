"""Search suggestions: what a reader may be typing, from the index's titles and the phrases
that recur across them (`GET /api/suggest?q=PREFIX`).

The entries (`semsearch.index.storage.suggestions`) are kept sorted by their folded text
(lower case, accents off, spaces collapsed), so the entries that start with a prefix are one
range found by binary search, and the best of that range are taken by weight with one
partial sort; at a million entries that is well under a millisecond for a long prefix and
a few for a one-letter one (docs/benchmarks.md, "Suggestions").

A built index holds its table (`suggest/`, written by the build and by every update), and
loading it maps the files. An index built before that, and a live index, has its table built
from the store's titles on first use (`SearchService.warm_up` does it before the version is
served): minutes at a million titles. A live index's suggestions are those of its articles
as loaded (its writes are not offered until it is loaded again).
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from semsearch.index.storage.manifest import SUGGEST_DIR
from semsearch.index.storage.suggestions import (
    MAX_SUGGESTION_CHARS,
    SuggestionTable,
    build_suggestions,
    fold,
    open_suggestions,
)

if TYPE_CHECKING:
    from semsearch.search.backends.base import Backend

__all__ = [
    "MAX_PREFIX_CHARS",
    "MAX_SUGGESTIONS",
    "MAX_SUGGESTION_CHARS",
    "LazySuggester",
    "Suggester",
    "Suggestion",
    "load_suggester",
]

log = logging.getLogger(__name__)

#: Longest prefix looked up, in characters; a longer one is answered for its first ones.
MAX_PREFIX_CHARS = 100
#: Most suggestions one request may ask for.
MAX_SUGGESTIONS = 20


@dataclass(frozen=True)
class Suggestion:
    """One suggestion: the text to offer, what it is (a title or a phrase) and its weight."""

    text: str
    kind: str
    weight: int


class _Keys:
    """The table's keys as a sequence of UTF-8 bytes, for `bisect`."""

    def __init__(self, table: SuggestionTable) -> None:
        self._table = table

    def __len__(self) -> int:
        return self._table.size

    def __getitem__(self, n: int) -> bytes:
        return self._table.key(n)


class Suggester:
    """The suggestions of one index version; thread-safe (it only reads)."""

    def __init__(
        self, titles: Iterable[str] | None = None, *, table: SuggestionTable | None = None
    ) -> None:
        started = time.perf_counter()
        self.table = table if table is not None else build_suggestions(titles or ())
        self._keys = _Keys(self.table)
        self.build_ms = (time.perf_counter() - started) * 1000

    @classmethod
    def open(cls, folder: Path) -> Suggester:
        """The table a build wrote in `folder`, memory-mapped."""
        return cls(table=open_suggestions(folder))

    @property
    def size(self) -> int:
        return self.table.size

    def suggest(self, prefix: str, limit: int = 10) -> list[Suggestion]:
        """The `limit` heaviest entries that start with `prefix` (folded), heaviest first,
        then shortest, then in alphabetical order."""
        key = fold(prefix)[:MAX_PREFIX_CHARS].encode("utf-8")
        if not key or limit <= 0:
            return []
        low = bisect.bisect_left(self._keys, key)
        # 0xff is in no UTF-8 text: every key that starts with the prefix sorts before it.
        high = bisect.bisect_left(self._keys, key + b"\xff", lo=low)
        if low >= high:
            return []
        table = self.table
        weights = np.asarray(table.weights[low:high])
        # A few more than asked, so that ties at the cut are ordered by length and text.
        wanted = min(len(weights), limit * 4)
        if wanted < len(weights):
            best = np.argpartition(-weights, wanted - 1)[:wanted]
        else:
            best = np.arange(len(weights))
        ranked = sorted(
            ((int(weights[n]), table.key(low + int(n)), low + int(n)) for n in best),
            key=lambda entry: (-entry[0], len(entry[1]), entry[1]),
        )
        return [Suggestion(table.text(n), table.kind(n), w) for w, _, n in ranked[:limit]]


class LazySuggester:
    """A Suggester made on first use, once, by a function (mapping a build's table, or
    building one from an index's titles, which takes minutes at a million titles;
    `SearchService.warm_up` makes it before the version is served)."""

    def __init__(self, make: Callable[[], Suggester]) -> None:
        self._make = make
        self._built: Suggester | None = None
        self._lock = threading.Lock()

    def get(self) -> Suggester:
        built = self._built
        if built is not None:
            return built
        with self._lock:
            if self._built is None:
                self._built = self._make()
                log.info(
                    "suggestions: %d entries, ready in %.0f ms",
                    self._built.size,
                    self._built.build_ms,
                )
            return self._built


def load_suggester(backend: Backend) -> LazySuggester:
    """The suggestions of a loaded index: its build's table when its manifest lists one
    (checked with the other files at load), otherwise built from its titles on first use."""
    folder = Path(backend.target()) / SUGGEST_DIR
    listed = any(name.startswith(f"{SUGGEST_DIR}/") for name in backend.manifest.files)
    if listed and folder.is_dir():
        return LazySuggester(lambda: Suggester.open(folder))
    return LazySuggester(lambda: Suggester(backend.store.titles()))
