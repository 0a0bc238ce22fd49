"""A live index's search suggestions, kept current by its writes (docs/live-index.md,
"Suggestions").

Each segment carries the suggestion table (`semsearch.index.storage.suggestions`: titles and
the phrases that recur across them, sorted by folded text) of its own articles' titles, and
the entry of each article's title (`entries`, aligned with the segment's article rows). The
write that makes a segment makes its table from the batch's titles, so a write's cost stays
the batch's; a merge makes the merged segment's table from the titles of its inputs' alive
article rows, read back from the inputs' tables (no store read, memory bounded by the merged
segment). A server looks a prefix up in every segment's table and adds the weights of the
same entry across segments (`semsearch.search.suggest.Suggester` over `ViewSuggestions.parts`,
made again at each new generation by `CurrentSuggester`). An article
deleted or replaced after its segment was made is taken off its title's weight through the
segment's article tombstones (`alive_weights`), so its title stops being offered at the
reader's next refresh, as its passages stop being found; a merge then drops it.

A phrase is offered when it recurs in `MIN_PHRASE_TITLES` titles of one segment: a write's
few titles seldom make one, so a phrase of recent writes is offered once merges have put
its titles in one segment (titles themselves at once). A deleted title's phrases keep its
count until its segment is merged.

A segment written before the tables has none: `stored_suggestions` makes its table from the
store's titles (a reader does it on first use; the next merge writes it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from semsearch.index.storage.suggestions import (
    SuggestionTable,
    build_suggestions,
    fold,
    offered_title,
    open_suggestions,
    write_suggestions,
)

if TYPE_CHECKING:
    from semsearch.index.live.reader import LiveReader
    from semsearch.index.live.segments import Mask, Segment

#: An inline segment's table: its arrays in the segment's blob under this prefix.
_PREFIX = "suggest_"
_TABLE = ("keys", "key_offsets", "shown", "shown_offsets", "kinds", "weights")


@dataclass(frozen=True)
class SegmentSuggestions:
    """A segment's suggestion table and the table entry of each article row's title."""

    table: SuggestionTable
    entries: npt.NDArray[np.int64]  # one an article row; -1: no title

    def title(self, row: int) -> str:
        """Article row `row`'s title as the table offers it ("" for none)."""
        entry = int(self.entries[row])
        return "" if entry < 0 else self.table.text(entry)

    def alive_weights(self, alive: npt.NDArray[np.bool_] | None) -> npt.NDArray[np.int64]:
        """The table's weights with the titles of dead article rows (`alive` False) taken
        off: an entry only dead articles held weighs 0."""
        weights = np.asarray(self.table.weights, dtype=np.int64)
        if alive is None:
            return weights
        dead = self.entries[~alive]
        dead = dead[dead >= 0]
        if len(dead) == 0:
            return weights
        return weights - np.bincount(dead, minlength=len(weights))


def segment_suggestions(titles: Sequence[str]) -> SegmentSuggestions:
    """The suggestions of a segment whose article rows have these titles, in row order."""
    table = build_suggestions(titles)
    position = {table.key(n): n for n in range(table.size)}
    entries = [position.get(fold(offered_title(t)).encode("utf-8"), -1) for t in titles]
    return SegmentSuggestions(table, np.asarray(entries, dtype=np.int64))


def with_suggestions(segment: Segment, titles: Mapping[int, str]) -> Segment:
    """The segment with the table of its articles' titles (`titles` by article key)."""
    if segment.articles is None:
        return segment
    keys = np.asarray(segment.articles.ids).tolist()
    return replace(segment, suggestions=segment_suggestions([titles.get(k, "") for k in keys]))


def merged_suggestions(
    parts: Sequence[tuple[SegmentSuggestions, npt.NDArray[np.int64], npt.NDArray[np.bool_] | None]],
) -> SegmentSuggestions:
    """A merged segment's suggestions from its inputs' (each with its article keys and alive
    article rows): the alive titles, in the merged article rows' order (by key)."""
    keys: list[npt.NDArray[np.int64]] = []
    titles: list[str] = []
    for suggestions, ids, alive in parts:
        rows = np.arange(len(ids)) if alive is None else np.flatnonzero(alive)
        keys.append(np.asarray(ids, dtype=np.int64)[rows])
        titles += [suggestions.title(int(row)) for row in rows]
    order = np.argsort(np.concatenate(keys or [np.zeros(0, dtype=np.int64)]), kind="stable")
    return segment_suggestions([titles[i] for i in order])


def stored_suggestions(
    segment: Segment, titles_of: Callable[[list[int]], dict[int, str]]
) -> Segment:
    """A segment made before the tables, given its table from the store's titles
    (`titles_of`: chunk id -> its article's title); others as they are."""
    if segment.suggestions is not None or segment.articles is None:
        return segment
    return with_suggestions(segment, titles_of(np.asarray(segment.articles.ids).tolist()))


# --- storage ------------------------------------------------------------------------------


def suggestion_arrays(suggestions: SegmentSuggestions | None) -> dict[str, np.ndarray]:
    """An inline segment's table as arrays for its blob (none without a table)."""
    if suggestions is None:
        return {}
    arrays = {_PREFIX + name: getattr(suggestions.table, name) for name in _TABLE}
    return arrays | {_PREFIX + "entries": suggestions.entries}


def suggestions_from_arrays(data: Any) -> SegmentSuggestions | None:
    """The table of an inline segment's blob (`suggestion_arrays`), None if it has none."""
    if _PREFIX + "entries" not in data:
        return None
    table = SuggestionTable(**{name: data[_PREFIX + name] for name in _TABLE})
    return SegmentSuggestions(table, data[_PREFIX + "entries"])


def write_segment_suggestions(suggestions: SegmentSuggestions, folder: Path) -> None:
    """Write a merged segment's table into `folder` (created; the caller fsyncs it)."""
    write_suggestions(suggestions.table, folder)
    np.save(folder / "entries.npy", suggestions.entries)


def read_segment_suggestions(folder: Path) -> SegmentSuggestions | None:
    """A merged segment's table, memory-mapped (None: a segment made before the tables)."""
    if not (folder / "entries.npy").is_file():
        return None
    return SegmentSuggestions(
        open_suggestions(folder), np.load(folder / "entries.npy", mmap_mode="r")
    )


# --- served -------------------------------------------------------------------------------


def _same_rows(known: Mask | None, alive: Mask | None) -> bool:
    """Whether two alive-row masks of one segment are the same (None: every row)."""
    if known is None or alive is None:
        return known is alive
    return bool(np.array_equal(known, alive))


class ViewSuggestions:
    """The suggestion tables of a reader's view, each with its dead titles' weights taken
    off: made again when the reader has moved to a new generation (a write, a delete, a
    merge), so a written title is offered, and a deleted one no longer, within the refresh
    interval, in every process."""

    def __init__(self, reader: LiveReader) -> None:
        self._reader = reader
        self._lock = threading.Lock()
        self._view: object = None
        self._parts: list[tuple[SuggestionTable, npt.NDArray[np.int64]]] = []
        self._stored: dict[int, Segment] = {}  # segments made before the tables, by id
        # Each segment's weights with the alive rows they were made for: a new generation
        # makes again only those of the segments whose deletions changed.
        self._weighed: dict[int, tuple[Mask | None, npt.NDArray[np.int64]]] = {}

    def parts(self) -> list[tuple[SuggestionTable, npt.NDArray[np.int64]]]:
        """(table, weights) of every segment with titles; the same list while the view
        is."""
        view = self._reader.view()
        with self._lock:
            if view is not self._view:
                parts = []
                weighed = {}
                for segment, alive in zip(view.segments, view.article_alive, strict=True):
                    suggestions = self._with_table(segment).suggestions
                    if suggestions is None:
                        continue
                    known = self._weighed.get(segment.id)
                    if known is not None and _same_rows(known[0], alive):
                        weights = known[1]
                    else:
                        weights = suggestions.alive_weights(alive)
                    weighed[segment.id] = (alive, weights)
                    parts.append((suggestions.table, weights))
                self._stored = {
                    s.id: self._stored[s.id] for s in view.segments if s.id in self._stored
                }
                self._view, self._parts, self._weighed = view, parts, weighed
            return self._parts

    def _with_table(self, segment: Segment) -> Segment:
        if segment.suggestions is not None or segment.articles is None:
            return segment
        if segment.id not in self._stored:
            # Its own connection: reading a large segment's titles does not hold the
            # reader's connection, which searches use meanwhile.
            db = self._reader.store.connect()
            try:
                titled = stored_suggestions(
                    segment, lambda keys: self._reader.store.titles_of(db, keys)
                )
            finally:
                db.close()
            self._stored[segment.id] = titled
        return self._stored[segment.id]
