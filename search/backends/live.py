"""The live backend: a live index's segments (`semsearch.index.live`), written while it
serves (docs/live-index.md).

Dense candidates come from every segment merged by score, keyword candidates by BM25 with
the collection's statistics, tombstoned passages left out before ranking; the reader moves
to a new generation at most `live_refresh_seconds` after a write, in every process. The
store is read through its own connection, which sees each commit at once: a passage deleted
since the reader's generation is simply not found (and not returned) by the service.
From format 2 (`catalog.FORMAT`) each passage is analysed in its article's language, as a
build does, and a query in the language the service chose (the passages' main language when
none); whole-article evidence (`articles`) comes from the segments' article rows. A live
index made before (format 1) was analysed as English throughout and has no article rows:
its queries are analysed as English and hybrid ranks passages alone, as for a built index
made before them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.index.live.reader import LiveReader
from semsearch.index.live.suggestions import ViewSuggestions
from semsearch.index.live.writer import is_live
from semsearch.index.storage.directory import resolve_index_dir
from semsearch.index.storage.manifest import MANIFEST_NAME, STORE_NAME, read_manifest
from semsearch.index.storage.store import ServedStore
from semsearch.index.storage.vectors import pooled_vector
from semsearch.search.backends.base import (
    ArticleEvidence,
    Backend,
    Candidates,
    Scope,
    StoreScoped,
    SuggestionParts,
    chunk_ids_of,
)
from semsearch.search.backends.directory import DirectoryKind
from semsearch.search.keyword import content_terms


class LiveBackend(StoreScoped):
    """One version of a live index: its segments through a reader, its store."""

    kind = "live"

    def __init__(self, version_dir: Path, settings: Mapping[str, Any] | None = None) -> None:
        self.version_dir = version_dir
        self.manifest = read_manifest(version_dir)
        self.reader = LiveReader(version_dir, settings)  # live_refresh_seconds is read there
        self.store = ServedStore(version_dir / STORE_NAME)
        self.articles: ArticleEvidence | None = None
        # Suggestions kept current by writes, from the segments' tables (format 2 on).
        self.suggestions: SuggestionParts | None = None
        if self.reader.view().state.format >= 2:
            self.articles = LiveArticles(self.reader)
            self.suggestions = ViewSuggestions(self.reader)

    def target(self) -> str:
        return str(self.version_dir)

    def dense(self, vector: np.ndarray, depth: int, scope: Scope | None) -> Candidates:
        return self.reader.dense(vector, depth, chunk_ids_of(scope, self.kind))

    def analysis_language(self, language: str | None) -> str:
        return self.reader.view().analysis_language(language)

    def languages(self) -> frozenset[str]:
        view = self.reader.view()
        return frozenset(view.languages) or frozenset({view.analysis_language(None)})

    def keyword_coverage(self, text: str, language: str | None = None) -> float:
        view = self.reader.view()
        words = self.reader.query_words(text, view, language)
        held = self.reader.word_weights(text, view, language)
        return len(held) / len(words) if words else 1.0

    def keyword_search(
        self, text: str, depth: int, scope: Scope | None, language: str | None = None
    ) -> Candidates:
        return self.reader.keyword(text, depth, chunk_ids_of(scope, self.kind), language)

    def has_all_terms(self, text: str, scope: Scope | None, language: str | None = None) -> bool:
        terms = content_terms(text, self.analysis_language(language))
        return bool(terms) and self.reader.has_all_terms(terms, chunk_ids_of(scope, self.kind))

    def idf_coverage(self, text: str, chunk_id: int, language: str | None = None) -> float | None:
        return self.reader.idf_coverage(text, chunk_id, language)

    def score_bound(self, text: str, language: str | None = None) -> float | None:
        return self.reader.score_bound(text, language)

    def frequent_words(self, min_passages: int) -> dict[str, int] | None:
        """The collection's words as the reader's catalog counts them when asked (the
        service asks once, at load: words written later are not corrected towards until
        the next load)."""
        return self.reader.frequent_words(min_passages)

    def article_vector(
        self, chunk_ids: Sequence[int], encode: Callable[[], np.ndarray]
    ) -> np.ndarray:
        vectors = self.stored_vectors(chunk_ids)
        return pooled_vector(encode() if vectors is None else vectors)

    def stored_vectors(self, chunk_ids: Sequence[int]) -> np.ndarray | None:
        if not chunk_ids:
            return None
        return self.reader.stored_vectors(list(chunk_ids))

    def nearest(self, vector: np.ndarray, depth: int, exclude: Sequence[int]) -> Candidates:
        excluded = set(exclude)
        found = self.reader.dense(vector, depth + len(excluded))
        return [(c, s) for c, s in found if c not in excluded][:depth]

    def check(self) -> None:
        """Segments, once loaded, stay readable (folders are kept while readers may use them)."""

    def close(self) -> None:
        self.reader.close()
        self.store.close()


class LiveArticles:
    """A live index's whole-article evidence (`ArticleEvidence`): its segments' article
    rows, scored with the articles' document frequencies and mean length."""

    def __init__(self, reader: LiveReader) -> None:
        self.reader = reader

    def keyword_scores(
        self, query: str, keys: Sequence[int], language: str | None = None
    ) -> list[tuple[int, float]]:
        return self.reader.article_keyword_scores(query, keys, language)

    def dense_scores(self, query: np.ndarray, keys: Sequence[int]) -> list[tuple[int, float]]:
        return self.reader.article_dense_scores(query, keys)

    def keys_of(self, chunk_ids: Sequence[int]) -> dict[int, int] | None:
        return None  # the store's, which every write keeps current


class LiveKind(DirectoryKind):
    """Live indexes: a path whose current version's manifest says so. Named, resolved and
    changed as any index directory is (the directory kind's methods); opened live, and its
    writes are visible by themselves (the generation)."""

    name = "live"

    def handles(self, index: str | Path) -> bool:
        path = Path(index)
        if not (path / MANIFEST_NAME).is_file():
            return False
        try:
            return is_live(read_manifest(resolve_index_dir(path)))
        except Exception:  # not an index this kind can read: another kind's to answer
            return False

    def open(self, index: str | Path, settings: Mapping[str, Any] | None = None) -> Backend:
        return LiveBackend(resolve_index_dir(Path(index)), settings)
