"""Search suggestions: what a reader may be typing, from the index's titles and the phrases
that recur across them (`GET /api/suggest?q=PREFIX`).

The entries (`semsearch.index.storage.suggestions`) are kept sorted by their folded text
(lower case, accents off, spaces collapsed), so the entries that start with a prefix are one
range found by binary search, and the best of that range are taken by weight with one
partial sort; at a million entries that is well under a millisecond for a long prefix and
a few for a one-letter one (docs/benchmarks.md, "Suggestions").

A built index holds its table (`suggest/`, written by the build and by every update), and
loading it maps the files. An index built before that has its table built from the store's
titles on first use (`SearchService.warm_up` does it before the version is served): minutes
at a million titles. A live index (format 2) has one table a segment, kept current by its
writes and merges (`semsearch.index.live.suggestions`): a prefix is looked up in each and the
same entry's weights added, so a title written is offered, and one deleted no longer, at the
reader's next refresh. A format-1 live index builds its table from its titles at load.
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    from semsearch.search.backends.base import Backend, SuggestionParts

__all__ = [
    "MAX_PREFIX_CHARS",
    "MAX_SUGGESTIONS",
    "MAX_SUGGESTION_CHARS",
    "CurrentSuggester",
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
    """The suggestions of one index version's table, or of several tables whose entries'
    weights add up (`parts`: a live index's segments, each with its weights, deleted titles
    taken off: `semsearch.index.live.suggestions`); thread-safe (it only reads)."""

    def __init__(
        self,
        titles: Iterable[str] | None = None,
        *,
        table: SuggestionTable | None = None,
        parts: Sequence[tuple[SuggestionTable, np.ndarray]] | None = None,
    ) -> None:
        started = time.perf_counter()
        if parts is None:
            table = table if table is not None else build_suggestions(titles or ())
            parts = [(table, table.weights)]
        self._parts = [(t, _Keys(t), w) for t, w in parts]
        self.build_ms = (time.perf_counter() - started) * 1000

    @classmethod
    def open(cls, folder: Path) -> Suggester:
        """The table a build wrote in `folder`, memory-mapped."""
        return cls(table=open_suggestions(folder))

    @property
    def size(self) -> int:
        return sum(table.size for table, _, _ in self._parts)

    def suggest(self, prefix: str, limit: int = 10) -> list[Suggestion]:
        """The `limit` heaviest entries that start with `prefix` (folded), heaviest first,
        then shortest, then in alphabetical order. Over several tables, each offers its
        heaviest few and the same entry's weights are added: a shard's top terms summed, as
        Elasticsearch's terms aggregation does (an entry light in every table but heavy in
        sum can be missed)."""
        key = fold(prefix)[:MAX_PREFIX_CHARS].encode("utf-8")
        if not key or limit <= 0:
            return []
        # key -> [weight, kind, where its text is]: texts are read for the few offered
        found: dict[bytes, list[Any]] = {}
        for table, keys, weights in self._parts:
            low = bisect.bisect_left(keys, key)
            # 0xff is in no UTF-8 text: every key that starts with the prefix sorts before it.
            high = bisect.bisect_left(keys, key + b"\xff", lo=low)
            if low >= high:
                continue
            ranged = np.asarray(weights[low:high])
            # A few more than asked, so that ties at the cut are ordered by length and text.
            wanted = min(len(ranged), limit * 4)
            if wanted < len(ranged):
                best = np.argpartition(-ranged, wanted - 1)[:wanted]
            else:
                best = np.arange(len(ranged))
            for n in best:
                weight, entry = int(ranged[n]), low + int(n)
                if weight <= 0:  # only deleted articles held it
                    continue
                seen = found.setdefault(table.key(entry), [0, "title", table, entry])
                seen[0] += weight
                if table.kind(entry) == "phrase":  # a phrase that is also a title is one
                    seen[1] = "phrase"
        ranked = sorted(found.items(), key=lambda item: (-item[1][0], len(item[0]), item[0]))
        return [
            Suggestion(table.text(entry), kind, weight)
            for _, (weight, kind, table, entry) in ranked[:limit]
        ]


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


class CurrentSuggester:
    """The suggestions of an index that takes writes: a Suggester over its tables as they
    are now, made again when they change (a new generation)."""

    def __init__(self, source: SuggestionParts) -> None:
        self._source = source
        self._made: tuple[object, Suggester] | None = None

    def get(self) -> Suggester:
        parts = self._source.parts()
        made = self._made
        if made is None or made[0] is not parts:
            made = self._made = (parts, Suggester(parts=parts))
        return made[1]


def load_suggester(backend: Backend) -> LazySuggester | CurrentSuggester:
    """The suggestions of a loaded index: kept current by its writes when the backend keeps
    tables for them (a live index); else its build's table when its manifest lists one
    (checked with the other files at load), otherwise built from its titles on first use."""
    if backend.suggestions is not None:
        return CurrentSuggester(backend.suggestions)
    folder = Path(backend.target()) / SUGGEST_DIR
    listed = any(name.startswith(f"{SUGGEST_DIR}/") for name in backend.manifest.files)
    if listed and folder.is_dir():
        return LazySuggester(lambda: Suggester.open(folder))
    return LazySuggester(lambda: Suggester(backend.store.titles()))
