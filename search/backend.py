"""Where a query's candidates come from: the retrieval seam behind `SearchService`.

A backend answers four questions under a query's filters, and nothing else: the dense
candidates (chunk ids nearest to the query vector), the keyword candidates (BM25), whether
some passage holds every query word (the exact-match rescue), and which passages the filters
admit (`scope`). Fusion, grouping, de-duplication, highlighting, "no good match",
attribution, facets and paging stay in the service, so both backends answer alike.

- `EmbeddedBackend`: an index directory's FAISS vectors, bm25s keyword index and SQLite
  store (filters as SQL on the store), as the product has always served.
- `EngineBackend`: a search engine (Milvus; `semsearch.index.storage.engine_backend`) holding
  the passages, their vectors, the product's BM25 weights and the filter fields, published
  from an index directory (`semsearch publish`, `semsearch.index.build.publish`); the
  article metadata and clean text stay in a copy of the index's SQLite store on storage
  every server reads. Named by an engine URI (`milvus:///abs/path/engine.db?collection=news`,
  `milvus+unix://...`, `milvus+http://...`: `parse_engine_uri`, which lives beside the
  engine client in `semsearch.index.storage.engine_backend`, as publishing needs it too).

Both backends own the store's one shared read-only connection and its lock (the service
reads articles through them).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semsearch.errors import BadQueryError, IndexMismatchError, IndexUnavailableError
from semsearch.index.storage.article_index import ArticleIndex
from semsearch.index.storage.engine_backend import (
    TERMS_TABLE,
    EngineFilter,
    parse_engine_uri,
    read_engine_record,
)
from semsearch.index.storage.engine_backend import (
    is_engine_uri as is_engine_uri,  # the service and the web layer ask this module
)
from semsearch.index.storage.keyword_index import KeywordIndex
from semsearch.index.storage.manifest import (
    ARTICLE_KEYWORD_DIR,
    KEYWORD_DIR,
    STORE_NAME,
    VECTORS_NAME,
    IndexManifest,
    file_digest,
    manifest_from_dict,
)
from semsearch.index.storage.store import StoreReader
from semsearch.index.storage.vectors import (
    pooled_vector,
    read_vector_index,
    search_vectors,
    stored_vectors,
)
from semsearch.index.text.analysis import analysed_language, query_words
from semsearch.search.keyword import content_terms, has_all_terms
from semsearch.search.query import Filters
from semsearch.search.similar import article_vector, nearest_chunks

if TYPE_CHECKING:
    import faiss

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scope:
    """The passages a query's filters admit: chunk ids (embedded) or an engine filter."""

    chunk_ids: list[int] | None = None
    engine: EngineFilter | None = None
    empty: bool = False


class _StoreAccess:
    """The store's one shared read-only connection, under a lock."""

    def __init__(self, path: Path) -> None:
        self.store = StoreReader(path)
        # Opened now and shared: the open file stays readable even after a later build
        # prunes its folder, so threads that query late never find it gone.
        self.db = self.store.connect()
        self.db_lock = threading.Lock()

    def close(self) -> None:
        with self.db_lock:
            self.db.close()


class EmbeddedBackend(_StoreAccess):
    """An index directory: FAISS for dense, bm25s for keyword, SQLite for the filters."""

    kind = "directory"

    def __init__(self, version_dir: Path, manifest: IndexManifest) -> None:
        try:
            # Mapped, not read, where FAISS can (IVF): start-up does not read the whole file.
            self.vectors: faiss.Index = read_vector_index(version_dir / VECTORS_NAME, mmap=True)
        except RuntimeError as exc:
            raise IndexUnavailableError(f"cannot read {VECTORS_NAME}: {exc}; rebuild") from exc
        self.keyword = KeywordIndex(version_dir / KEYWORD_DIR)
        # Article-level evidence (semsearch.search.articles); indexes built before it lack it.
        self.articles = ArticleIndex.open(version_dir / ARTICLE_KEYWORD_DIR)
        super().__init__(version_dir / STORE_NAME)
        chunks = manifest.counts["chunks"]
        if self.vectors.ntotal != chunks:
            self.close()
            raise IndexUnavailableError(
                f"{VECTORS_NAME} holds {self.vectors.ntotal} vectors, the manifest says "
                f"{chunks} chunks: rebuild the index"
            )

    def scope(self, filters: Filters) -> Scope | None:
        if not filters.active():
            return None
        where, params = filters.sql()
        with self.db_lock:
            ids = self.store.chunk_ids_where(self.db, where, params)
        return Scope(chunk_ids=ids, empty=not ids)

    def dense(self, vector: np.ndarray, depth: int, scope: Scope | None) -> list[tuple[int, float]]:
        allowed = None if scope is None else np.asarray(scope.chunk_ids)
        return search_vectors(self.vectors, vector, depth, allowed)

    def analysis_language(self, language: str | None) -> str:
        """The language a query is analysed in (the keyword index's main one for None)."""
        return self.keyword.analysis_language(language)

    def languages(self) -> frozenset[str]:
        """The languages the passages were analysed in."""
        return frozenset(self.keyword.languages)

    def keyword_coverage(self, text: str, language: str | None = None) -> float:
        """The share of the query's index words some passage holds."""
        return self.keyword.coverage(text, language)

    def keyword_search(
        self, text: str, depth: int, scope: Scope | None, language: str | None = None
    ) -> list[tuple[int, float]]:
        allowed = None if scope is None else scope.chunk_ids
        return self.keyword.search(text, depth, allowed, language)

    def has_all_terms(self, text: str, scope: Scope | None, language: str | None = None) -> bool:
        allowed = None if scope is None else scope.chunk_ids
        return has_all_terms(self.keyword, text, allowed, language)

    def article_vector(
        self, chunk_ids: Sequence[int], encode: Callable[[], np.ndarray]
    ) -> np.ndarray:
        return article_vector(self.vectors, chunk_ids, encode)

    def stored_vectors(self, chunk_ids: Sequence[int]) -> np.ndarray | None:
        """The stored vectors of these chunk ids, a row each (None: they cannot be read)."""
        return stored_vectors(self.vectors, chunk_ids)

    def nearest(
        self, vector: np.ndarray, depth: int, exclude: Sequence[int]
    ) -> list[tuple[int, float]]:
        return nearest_chunks(self.vectors, vector, depth, exclude)

    def check(self) -> None:
        """Files, once loaded, do not go away (the connection holds the store open)."""


class EngineBackend(_StoreAccess):
    """A search engine's collection of passages, and the published copy of the store."""

    kind = "engine"

    def __init__(self, uri: str, record: dict[str, Any]) -> None:
        self.uri = uri
        self.address = parse_engine_uri(uri)
        self.passages = self.address.passages(str(record["passages"]))
        self.store_path = Path(record["store"])
        if not self.store_path.is_file():
            raise IndexUnavailableError(
                f"the store of the index at {uri}, {self.store_path}, is missing: it must be on "
                "storage every server reads; publish the index again"
            )
        expected = record["store_file"]
        found = file_digest(self.store_path)
        if found != expected:
            raise IndexMismatchError(
                f"{self.store_path} does not match the checksum the engine's index records: "
                "the store was changed or replaced; publish the index again"
            )
        super().__init__(self.store_path)
        self._terms: dict[str, int | None] = {}
        # The article-level index, published beside the store when the index has one.
        articles = record.get("article_keyword")
        self.articles = ArticleIndex.open(Path(articles)) if articles else None

    def analysis_language(self, language: str | None) -> str:
        """The language a query is analysed in: as the published article-level index, which
        records the languages the passages were analysed in (English without it: an index
        published before languages)."""
        if self.articles is None:
            return analysed_language(None)
        return self.articles.keyword.analysis_language(language)

    def languages(self) -> frozenset[str]:
        """The languages the articles were analysed in (English without the record)."""
        if self.articles is None:
            return frozenset({analysed_language(None)})
        return frozenset(self.articles.keyword.languages)

    def keyword_coverage(self, text: str, language: str | None = None) -> float:
        """The share of the query's index words some passage holds (published vocabulary)."""
        words = list(dict.fromkeys(query_words(text, language=self.analysis_language(language))))
        if not words:
            return 1.0
        return sum(t is not None for t in self._term_ids(words)) / len(words)

    def _term_ids(self, words: Sequence[str]) -> list[int | None]:
        """Each index word's term id in the published vocabulary (None: no passage has it)."""
        # The answer from a local dict: another thread may clear the shared cache meanwhile.
        known: dict[str, int | None] = {}
        missing = []
        for word in dict.fromkeys(words):
            cached = self._terms.get(word, -1)  # one lookup: no gap for a clear() to fall in
            if cached == -1:
                missing.append(word)
            else:
                known[word] = cached
        if missing:
            marks = ",".join("?" * len(missing))
            sql = f"SELECT word, id FROM {TERMS_TABLE} WHERE word IN ({marks})"
            with self.db_lock:
                found = dict(self.db.execute(sql, missing).fetchall())
            fetched = {w: found.get(w) for w in missing}
            known.update(fetched)
            if len(self._terms) > 100_000:
                self._terms.clear()  # a bound on the cache, not a policy
            self._terms.update(fetched)
        return [known[w] for w in words]

    def scope(self, filters: Filters) -> Scope | None:
        if not filters.active():
            return None
        if filters.language:
            # The published passages carry no language field yet: refuse, never ignore.
            raise BadQueryError(
                "the language filter is not available on an index served from a search "
                "engine yet; serve the index directory to filter by language"
            )
        engine = EngineFilter(
            published_from=filters.published_from,
            published_to=filters.published_to,
            publication=filters.publication,
            author=filters.author,
        )
        return Scope(engine=engine, empty=self.passages.count(engine) == 0)

    def dense(self, vector: np.ndarray, depth: int, scope: Scope | None) -> list[tuple[int, float]]:
        found = self.passages.dense(vector, depth, None if scope is None else scope.engine)
        return [(c.chunk_id, c.score) for c in found]

    def keyword_search(
        self, text: str, depth: int, scope: Scope | None, language: str | None = None
    ) -> list[tuple[int, float]]:
        words = list(dict.fromkeys(query_words(text, language=self.analysis_language(language))))
        weights = {t: 1.0 for t in self._term_ids(words) if t is not None}
        found = self.passages.sparse(weights, depth, None if scope is None else scope.engine)
        return [(c.chunk_id, c.score) for c in found]

    def has_all_terms(self, text: str, scope: Scope | None, language: str | None = None) -> bool:
        ids = self._term_ids(content_terms(text, self.analysis_language(language)))
        if not ids or any(t is None for t in ids):
            return False  # no word, or a word no passage holds
        terms = [t for t in ids if t is not None]
        return self.passages.has_all_terms(terms, None if scope is None else scope.engine)

    def article_vector(
        self, chunk_ids: Sequence[int], encode: Callable[[], np.ndarray]
    ) -> np.ndarray:
        vectors = self.stored_vectors(chunk_ids)
        return pooled_vector(encode() if vectors is None else vectors)

    def stored_vectors(self, chunk_ids: Sequence[int]) -> np.ndarray | None:
        """The stored vectors of these chunk ids, a row each (None: some are missing): read
        from the engine (more like this reads one article's; the articles' pooled vectors
        for hybrid ranking are in the article-level index)."""
        if not chunk_ids:
            return None
        stored = self.passages.vectors(list(dict.fromkeys(chunk_ids)))
        if any(c not in stored for c in chunk_ids):
            return None
        return np.stack([stored[c] for c in chunk_ids])

    def nearest(
        self, vector: np.ndarray, depth: int, exclude: Sequence[int]
    ) -> list[tuple[int, float]]:
        excluded = set(exclude)
        found = self.passages.dense(vector, depth + len(excluded))
        return [(c.chunk_id, c.score) for c in found if c.chunk_id not in excluded]

    def check(self) -> None:
        """Raise IndexUnavailableError unless the engine answers with the collection."""
        self.passages.check()

    def close(self) -> None:
        super().close()
        self.passages.close()


RetrievalBackend = EmbeddedBackend | EngineBackend


def open_engine_index(uri: str) -> tuple[IndexManifest, EngineBackend]:
    """The manifest and backend of the index published at an engine URI."""
    record = read_engine_record(uri)
    try:
        manifest = manifest_from_dict(record["manifest"], uri)
    except KeyError as exc:
        raise IndexUnavailableError(f"the engine's index record at {uri} lacks {exc}") from exc
    backend = EngineBackend(uri, record)
    try:
        count = backend.passages.count()
    except IndexUnavailableError:
        backend.close()
        raise
    if count != manifest.counts["chunks"]:
        backend.close()
        raise IndexUnavailableError(
            f"the engine holds {count} passages of the index at {uri}, its manifest says "
            f"{manifest.counts['chunks']}: publish the index again"
        )
    return manifest, backend
