"""Searching a live index: dense and keyword candidates over every segment, tombstones
filtered before ranking, BM25 with the collection's statistics; articles from the store.

A reader holds a *view*: the segments, their alive rows and the collection's counts at one
generation, loaded in one read transaction. Before a search it asks the store for the
generation (at most every `live_refresh_seconds`) and, when it moved, loads a new view:
new segments are read, segments still listed are kept as loaded, merged-away ones dropped.
A search takes the view once, so it sees one generation throughout, while writes and merges
go on. This is what `search/backends/live.py` adapts to the backend protocol.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.errors import IndexUnavailableError
from semsearch.index.live import catalog
from semsearch.index.live.merge import dead_rows, load_segment
from semsearch.index.live.segments import (
    Ids,
    Mask,
    Segment,
    dense_search,
    has_all_words,
    keyword_scores,
    with_exact_index,
)
from semsearch.index.storage.keyword_index import bm25_idf
from semsearch.index.storage.manifest import STORE_NAME
from semsearch.index.storage.store import StoredArticle, StoredChunk, StoreReader
from semsearch.index.text.analysis import ENGLISH, query_words
from semsearch.index.text.languages import main_language
from semsearch.settings import get_setting


@dataclass(frozen=True)
class View:
    """The index at one generation: its segments with their alive rows (None: all), their
    articles' alive rows, and the live passages per analysis language."""

    state: catalog.LiveState
    segments: tuple[Segment, ...]
    alive: tuple[Mask | None, ...]
    article_alive: tuple[Mask | None, ...] = ()
    languages: Mapping[str, int] = field(default_factory=dict)

    def analysis_language(self, language: str | None) -> str:
        """The language a query is analysed in: English in a format-1 index (analysed as
        English throughout); else `language`, or the main language of the passages."""
        if not self.state.per_language:
            return ENGLISH
        if language is not None:
            return language
        return main_language(self.languages) or ENGLISH


class LiveReader:
    """Read-only access to a live index version, from any number of threads."""

    def __init__(self, version_dir: Path, settings: Mapping[str, Any] | None = None) -> None:
        self.folder = version_dir
        self.settings = dict(settings or {})
        self.store = StoreReader(version_dir / STORE_NAME)
        self.db = self.store.connect()
        self.db_lock = threading.Lock()
        self._load_lock = threading.Lock()
        self._checked = 0.0
        self._view = self._load({})

    # --- the view ----------------------------------------------------------------------------

    @property
    def generation(self) -> int:
        return self.view().state.generation

    def view(self) -> View:
        """The newest view, refreshed when the refresh interval has passed."""
        interval = float(get_setting("live_refresh_seconds", self.settings))
        if time.monotonic() - self._checked >= interval:
            self.refresh()
        return self._view

    def refresh(self) -> int:
        """Load the newest generation now; returns it."""
        with self._load_lock:
            with self.db_lock:
                generation = catalog.read_generation(self.db)
            self._checked = time.monotonic()
            if generation != self._view.state.generation:
                known = {s.id: s for s in self._view.segments}
                self._view = self._load(known)
            return self._view.state.generation

    def _load(self, known: dict[int, Segment]) -> View:
        for attempt in range(3):
            try:
                return self._read_view(known)
            except FileNotFoundError:
                # A merge swapped its inputs out between the listing and the read: list again.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _read_view(self, known: dict[int, Segment]) -> View:
        with self.db_lock:
            self.db.execute("BEGIN")  # one read snapshot: one generation
            try:
                state = catalog.read_state(self.db)
                rows = catalog.read_segments(self.db)
                tombstones = np.asarray(catalog.read_tombstones(self.db), dtype=np.int64)
                languages = catalog.read_languages(self.db)
                segments = [
                    known.get(row.id)
                    or with_exact_index(load_segment(self.db, self.folder, row, graph=True))
                    for row in rows
                ]
            except FileNotFoundError:
                raise
            except Exception as exc:
                raise IndexUnavailableError(
                    f"cannot read the live index {self.folder}: {exc}"
                ) from exc
            finally:
                self.db.execute("COMMIT")
        alive = tuple(dead_rows(s, tombstones) for s in segments)
        article_alive = tuple(
            None if s.articles is None else dead_rows(s.articles, tombstones) for s in segments
        )
        return View(state, tuple(segments), alive, article_alive, languages)

    # --- candidates --------------------------------------------------------------------------

    def dense(
        self, vector: np.ndarray, depth: int, allowed: Iterable[int] | None = None
    ) -> list[tuple[int, float]]:
        """The `depth` passages nearest to a unit query vector, best first, among the
        `allowed` chunk ids (all when None): exact for small segments, HNSW for large."""
        view = self.view()
        wanted = _sorted_ids(allowed)
        ef = int(get_setting("live_hnsw_ef_search", self.settings))
        found_ids, found_scores = [], []
        for segment, alive in zip(view.segments, view.alive, strict=True):
            mask = _restrict(segment, alive, wanted)
            ids, scores = dense_search(segment, vector, depth, mask, ef)
            found_ids.append(ids)
            found_scores.append(scores)
        return _best(found_ids, found_scores, depth)

    def keyword(
        self,
        text: str,
        depth: int,
        allowed: Iterable[int] | None = None,
        language: str | None = None,
    ) -> list[tuple[int, float]]:
        """The `depth` best passages by BM25 (the collection's document frequencies and mean
        length), scores above zero, best first, among the `allowed` chunk ids; the query
        analysed in `language` (`View.analysis_language`)."""
        view = self.view()
        weights = self.word_weights(text, view, language)
        if not weights or depth <= 0:
            return []
        wanted = _sorted_ids(allowed)
        mean = view.state.mean_words
        found_ids, found_scores = [], []
        for segment, alive in zip(view.segments, view.alive, strict=True):
            mask = _restrict(segment, alive, wanted)
            rows, scores = keyword_scores(segment, weights, mean, mask)
            found_ids.append(np.asarray(segment.ids)[rows])
            found_scores.append(scores)
        return _best(found_ids, found_scores, depth)

    def word_weights(
        self,
        text: str,
        view: View | None = None,
        language: str | None = None,
        articles: bool = False,
    ) -> dict[str, float]:
        """Each query index word some live passage (with `articles`: article) holds, with
        its idf over the collection (bm25s's Lucene formula, as the built index scores)."""
        view = view or self.view()
        words = self.query_words(text, view, language)
        table = "live_article_terms" if articles else "live_terms"
        with self.db_lock:
            frequencies = catalog.read_document_frequencies(self.db, words, table)
        total = view.state.articles if articles else view.state.passages
        return {word: bm25_idf(total, df) for word, df in frequencies.items() if df > 0}

    def frequent_words(self, min_passages: int) -> dict[str, int]:
        """The collection's index words that at least `min_passages` live passages hold."""
        with self.db_lock:
            return catalog.read_frequent_words(self.db, min_passages)

    def query_words(
        self, text: str, view: View | None = None, language: str | None = None
    ) -> list[str]:
        """The query's distinct index words, analysed as `View.analysis_language` says."""
        view = view or self.view()
        return list(dict.fromkeys(query_words(text, language=view.analysis_language(language))))

    def query_idf(
        self, text: str, view: View | None = None, language: str | None = None
    ) -> dict[str, float]:
        """Each of the query's distinct index words with its IDF over the live passages (a
        word no passage holds at the highest): what `KeywordIndex.query_idf` answers."""
        view = view or self.view()
        words = self.query_words(text, view, language)
        if not words:
            return {}
        with self.db_lock:
            frequencies = catalog.read_document_frequencies(self.db, words)
        passages = view.state.passages
        return {word: bm25_idf(passages, frequencies.get(word, 0)) for word in words}

    def score_bound(self, text: str, language: str | None = None) -> float:
        """The most BM25 score a live passage could reach for `text` (the sum of its
        `query_idf`): what `KeywordIndex.score_bound` answers for a built index. 0.0 for no
        word."""
        return sum(self.query_idf(text, None, language).values())

    def idf_coverage(self, text: str, chunk_id: int, language: str | None = None) -> float:
        """The share of the query's IDF (`query_idf`) that the live passage `chunk_id`
        holds: what `KeywordIndex.idf_coverage` answers for a built index. 0.0 for no word."""
        view = self.view()
        idf = self.query_idf(text, view, language)
        if not idf:
            return 0.0
        wanted = np.asarray([chunk_id], dtype=np.int64)
        for segment, alive in zip(view.segments, view.alive, strict=True):
            rows = segment.rows_of(wanted)
            if len(rows) and (alive is None or alive[rows[0]]):
                row = int(rows[0])
                break
        else:
            return 0.0
        held = sum(weight for word, weight in idf.items() if row in segment.word_rows(word)[0])
        total = sum(idf.values())
        return held / total if total > 0 else 0.0

    # --- whole-article evidence ----------------------------------------------------------------

    def article_keyword_scores(
        self, text: str, keys: Sequence[int], language: str | None = None
    ) -> list[tuple[int, float]]:
        """Whole-article BM25 of the articles `keys` (their first chunk ids), best first,
        those above zero: the articles' document frequencies and mean length."""
        view = self.view()
        weights = self.word_weights(text, view, language, articles=True)
        wanted = _sorted_ids(keys)
        if not weights or wanted is None or len(wanted) == 0:
            return []
        mean = view.state.mean_article_words
        found_ids, found_scores = [], []
        for segment, alive in zip(view.segments, view.article_alive, strict=True):
            if segment.articles is None:
                continue
            mask = _restrict(segment.articles, alive, wanted)
            rows, scores = keyword_scores(segment.articles, weights, mean, mask)
            found_ids.append(np.asarray(segment.articles.ids)[rows])
            found_scores.append(scores)
        return _best(found_ids, found_scores, len(wanted))

    def article_dense_scores(
        self, vector: np.ndarray, keys: Sequence[int]
    ) -> list[tuple[int, float]]:
        """The cosine of a query vector with each of these articles' pooled vectors, best
        first (ties by key)."""
        view = self.view()
        wanted = _sorted_ids(keys)
        if wanted is None or len(wanted) == 0:
            return []
        found_ids, found_scores = [], []
        query = np.asarray(vector, dtype=np.float32)
        for segment, alive in zip(view.segments, view.article_alive, strict=True):
            part = segment.articles
            if part is None:
                continue
            rows = part.rows_of(wanted)
            if alive is not None:
                rows = rows[alive[rows]]
            found_ids.append(np.asarray(part.ids)[rows])
            found_scores.append(np.asarray(part.vectors[rows], dtype=np.float32) @ query)
        return _best(found_ids, found_scores, len(wanted))

    def has_all_terms(self, words: list[str], allowed: Iterable[int] | None = None) -> bool:
        """Whether some live passage (among `allowed`) holds every one of the index words."""
        unique = list(dict.fromkeys(words))
        if not unique:
            return False
        view = self.view()
        wanted = _sorted_ids(allowed)
        return any(
            has_all_words(segment, unique, _restrict(segment, alive, wanted))
            for segment, alive in zip(view.segments, view.alive, strict=True)
        )

    def stored_vectors(self, chunk_ids: list[int]) -> np.ndarray | None:
        """The stored vectors of these live chunk ids, a row each (None: one is not live)."""
        view = self.view()
        found: dict[int, np.ndarray] = {}
        wanted = _sorted_ids(chunk_ids)
        assert wanted is not None
        for segment, alive in zip(view.segments, view.alive, strict=True):
            for row in segment.rows_of(wanted):
                if alive is None or alive[row]:
                    found[int(segment.ids[row])] = np.asarray(segment.vectors[row])
        if any(c not in found for c in chunk_ids):
            return None
        return np.stack([found[c] for c in chunk_ids]).astype(np.float32)

    # --- the store ---------------------------------------------------------------------------

    def fetch_chunks(self, chunk_ids: Iterable[int]) -> dict[int, StoredChunk]:
        with self.db_lock:
            return self.store.fetch_chunks(self.db, chunk_ids)

    def fetch_article(self, article_id: str) -> StoredArticle | None:
        with self.db_lock:
            return self.store.fetch_article(self.db, article_id)

    def close(self) -> None:
        with self.db_lock:
            self.db.close()


def _sorted_ids(ids: Iterable[int] | None) -> Ids | None:
    if ids is None:
        return None
    return np.unique(np.fromiter((int(i) for i in ids), dtype=np.int64))


def _restrict(segment: Segment, alive: Mask | None, wanted: Ids | None) -> Mask | None:
    """The rows a search may rank: alive, and among the wanted ids when a filter names
    them."""
    if wanted is None:
        return alive
    mask = np.zeros(len(segment), dtype=bool)
    mask[segment.rows_of(wanted)] = True
    return mask if alive is None else mask & alive


def _best(ids: list[np.ndarray], scores: list[np.ndarray], depth: int) -> list[tuple[int, float]]:
    """The `depth` best (chunk id, score) pairs of several segments' lists, best first."""
    if not ids:
        return []
    all_ids = np.concatenate(ids)
    all_scores = np.concatenate(scores).astype(np.float32)
    if len(all_ids) == 0 or depth <= 0:
        return []
    if len(all_ids) > depth:
        threshold = np.partition(all_scores, len(all_scores) - depth)[len(all_scores) - depth]
        top = np.flatnonzero(all_scores >= threshold)
    else:
        top = np.arange(len(all_ids))
    # Ties broken by chunk id, so the order does not depend on how segments were merged.
    order = top[np.lexsort((all_ids[top], -all_scores[top]))][:depth]
    return list(zip(all_ids[order].tolist(), all_scores[order].tolist(), strict=True))


def open_reader(index: str | Path, settings: Mapping[str, Any] | None = None) -> LiveReader:
    """A reader of the version a live index path points to now."""
    from semsearch.index.live.writer import is_live
    from semsearch.index.storage.directory import resolve_index_dir
    from semsearch.index.storage.manifest import read_manifest

    version = resolve_index_dir(Path(index))
    if not is_live(read_manifest(version)):
        raise IndexUnavailableError(f"{index} is not a live index")
    return LiveReader(version, settings)
