"""The live backend: a live index's segments (`semsearch.index.live`), written while it
serves (docs/live-index.md).

Dense candidates come from every segment merged by score, keyword candidates by BM25 with
the collection's statistics, tombstoned passages left out before ranking; the reader moves
to a new generation at most `live_refresh_seconds` after a write, in every process. The
store is read through its own connection, which sees each commit at once: a passage deleted
since the reader's generation is simply not found (and not returned) by the service.
Whole-article evidence (`articles`) is not kept for a live index yet: hybrid ranking runs
without it, as for an index built before it existed. Its segments' words are English
throughout (as an index built before languages): every query is analysed as English.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from semsearch.index.live.reader import LiveReader
from semsearch.index.live.writer import is_live
from semsearch.index.storage.article_index import ArticleIndex
from semsearch.index.storage.directory import resolve_index_dir
from semsearch.index.storage.manifest import MANIFEST_NAME, STORE_NAME, read_manifest
from semsearch.index.storage.store import ArticleFilter, ServedStore
from semsearch.index.storage.vectors import pooled_vector
from semsearch.index.text.analysis import ENGLISH, query_words
from semsearch.search.backends.base import (
    Backend,
    Candidates,
    ChunkScope,
    Scope,
    chunk_ids_of,
    narrowed_chunk_scope,
)
from semsearch.search.backends.directory import DirectoryKind, _single_threaded_faiss
from semsearch.search.keyword import content_terms


class LiveBackend:
    """One version of a live index: its segments through a reader, its store."""

    kind = "live"

    def __init__(self, version_dir: Path) -> None:
        self.version_dir = version_dir
        self.manifest = read_manifest(version_dir)
        _single_threaded_faiss()
        self.reader = LiveReader(version_dir)
        self.store = ServedStore(version_dir / STORE_NAME)
        self.articles: ArticleIndex | None = None

    def target(self) -> str:
        return str(self.version_dir)

    def scope(self, where: ArticleFilter) -> Scope | None:
        ids = self.store.chunk_ids_matching(where)
        return ChunkScope(empty=not ids, chunk_ids=tuple(ids))

    def narrow(
        self, scope: Scope | None, within: frozenset[int] | None, without: frozenset[int]
    ) -> Scope:
        return narrowed_chunk_scope(scope, self.kind, within, without, self.store)

    def dense(self, vector: np.ndarray, depth: int, scope: Scope | None) -> Candidates:
        return self.reader.dense(vector, depth, chunk_ids_of(scope, self.kind))

    def analysis_language(self, language: str | None) -> str:
        return ENGLISH

    def languages(self) -> frozenset[str]:
        return frozenset({ENGLISH})

    def keyword_coverage(self, text: str, language: str | None = None) -> float:
        words = set(query_words(text))
        return len(self.reader.word_weights(text)) / len(words) if words else 1.0

    def keyword_search(
        self, text: str, depth: int, scope: Scope | None, language: str | None = None
    ) -> Candidates:
        return self.reader.keyword(text, depth, chunk_ids_of(scope, self.kind))

    def has_all_terms(self, text: str, scope: Scope | None, language: str | None = None) -> bool:
        terms = content_terms(text)
        return bool(terms) and self.reader.has_all_terms(terms, chunk_ids_of(scope, self.kind))

    def idf_coverage(self, text: str, chunk_id: int, language: str | None = None) -> float | None:
        """Not computed for live segments yet: the collection's fusion applies."""
        return None

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

    def open(self, index: str | Path) -> Backend:
        return LiveBackend(resolve_index_dir(Path(index)))
