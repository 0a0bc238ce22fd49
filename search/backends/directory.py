"""The directory backend: an index directory's FAISS vectors, bm25s keyword index and SQLite
store, the product's default (`semsearch.index.storage.directory` writes it)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semsearch.errors import IndexUnavailableError
from semsearch.index.storage.article_index import ArticleIndex
from semsearch.index.storage.directory import resolve_index_dir
from semsearch.index.storage.keyword_index import KeywordIndex
from semsearch.index.storage.manifest import (
    ARTICLE_KEYWORD_DIR,
    KEYWORD_DIR,
    STORE_NAME,
    VECTORS_NAME,
    read_manifest,
    verify_files,
)
from semsearch.index.storage.store import ServedStore
from semsearch.index.storage.vectors import (
    HalfScan,
    read_vector_index,
    search_vectors,
    stored_vectors,
)
from semsearch.search.backends.base import (
    Backend,
    Candidates,
    Scope,
    StoreScoped,
    chunk_ids_of,
)
from semsearch.search.keyword import has_all_terms
from semsearch.search.similar import article_vector, nearest_chunks

if TYPE_CHECKING:
    import faiss

log = logging.getLogger(__name__)


class DirectoryBackend(StoreScoped):
    """One version folder of an index directory, checked against its manifest and loaded."""

    kind = "directory"

    def __init__(self, version_dir: Path) -> None:
        self.version_dir = version_dir
        self.manifest = read_manifest(version_dir)
        verify_files(version_dir, self.manifest)
        try:
            # Mapped, not read, where FAISS can (IVF): start-up does not read the whole file.
            self.vectors: faiss.Index = read_vector_index(version_dir / VECTORS_NAME, mmap=True)
        except RuntimeError as exc:
            raise IndexUnavailableError(f"cannot read {VECTORS_NAME}: {exc}; rebuild") from exc
        chunks = self.manifest.counts["chunks"]
        if self.vectors.ntotal != chunks:
            raise IndexUnavailableError(
                f"{VECTORS_NAME} holds {self.vectors.ntotal} vectors, the manifest says "
                f"{chunks} chunks: rebuild the index"
            )
        # A flat index is searched over a float16 copy, re-scored exactly (`HalfScan`).
        self.scan = HalfScan.of(self.vectors)
        self.keyword = KeywordIndex(version_dir / KEYWORD_DIR)
        # Article-level evidence (semsearch.search.articles); indexes built before it lack it.
        self.articles = ArticleIndex.open(version_dir / ARTICLE_KEYWORD_DIR)
        self.store = ServedStore(version_dir / STORE_NAME)
        self.suggestions = None  # the version's table (search/suggest.py)

    def target(self) -> str:
        return str(self.version_dir)

    def dense(self, vector: np.ndarray, depth: int, scope: Scope | None) -> Candidates:
        allowed = chunk_ids_of(scope, self.kind)
        ids = None if allowed is None else np.asarray(allowed)
        if self.scan is not None:
            return self.scan.search(vector, depth, ids)
        return search_vectors(self.vectors, vector, depth, ids)

    def analysis_language(self, language: str | None) -> str:
        return self.keyword.analysis_language(language)

    def languages(self) -> frozenset[str]:
        return frozenset(self.keyword.languages)

    def keyword_coverage(self, text: str, language: str | None = None) -> float:
        return self.keyword.coverage(text, language)

    def keyword_search(
        self, text: str, depth: int, scope: Scope | None, language: str | None = None
    ) -> Candidates:
        allowed = chunk_ids_of(scope, self.kind)
        return self.keyword.search(
            text, depth, None if allowed is None else list(allowed), language
        )

    def has_all_terms(self, text: str, scope: Scope | None, language: str | None = None) -> bool:
        allowed = chunk_ids_of(scope, self.kind)
        return has_all_terms(
            self.keyword, text, None if allowed is None else list(allowed), language
        )

    def idf_coverage(self, text: str, chunk_id: int, language: str | None = None) -> float | None:
        return self.keyword.idf_coverage(text, chunk_id, language)

    def score_bound(self, text: str, language: str | None = None) -> float | None:
        return self.keyword.score_bound(text, language)

    def frequent_words(self, min_passages: int) -> dict[str, int] | None:
        return self.keyword.frequent_words(min_passages)

    def article_vector(
        self, chunk_ids: Sequence[int], encode: Callable[[], np.ndarray]
    ) -> np.ndarray:
        return article_vector(self.vectors, chunk_ids, encode)

    def stored_vectors(self, chunk_ids: Sequence[int]) -> np.ndarray | None:
        return stored_vectors(self.vectors, chunk_ids)

    def nearest(self, vector: np.ndarray, depth: int, exclude: Sequence[int]) -> Candidates:
        return nearest_chunks(self.vectors, vector, depth, exclude)

    def check(self) -> None:
        """Files, once loaded, do not go away (the connection holds the store open)."""

    def close(self) -> None:
        self.store.close()


class DirectoryKind:
    """Index directories: a name is a path whose link points at the current version."""

    name = "directory"

    def handles(self, index: str | Path) -> bool:
        return True  # the fallback: whatever no other kind claims is a path

    def open(self, index: str | Path, settings: Mapping[str, Any] | None = None) -> Backend:
        return DirectoryBackend(resolve_index_dir(Path(index)))

    def target(self, index: str | Path) -> str:
        return str(resolve_index_dir(Path(index)))

    def source_directory(self, index: str | Path) -> Path:
        return Path(index)

    def after_update(self, index: str | Path, source: Path) -> str:
        """An update publishes the directory's new version itself."""
        return ""


def directory_backend(backend: Backend) -> DirectoryBackend:
    """The backend as an index directory's, for the build-time tools that read FAISS and
    bm25s themselves (fusion tuning, calibration, relevance studies); a clear error else."""
    if not isinstance(backend, DirectoryBackend):
        raise IndexUnavailableError(
            f"this needs an index directory; the index is served by the {backend.kind} backend"
        )
    return backend
