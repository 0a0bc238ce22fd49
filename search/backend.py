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
  every server reads. Named by an engine URI (`parse_engine_uri`):

  - `milvus:///abs/path/engine.db?collection=news` (or `milvus:rel/engine.db?...`): Milvus
    Lite, its engine a child process of this one on a unix socket;
  - `milvus+unix:///run/engine.sock?collection=news`: an engine process already running on
    a unix socket (`semsearch engine`), shared by every server process on the machine;
  - `milvus+http://host:19530?collection=news` (or `milvus+https`): a Milvus cluster; its
    token, if any, from `SEMSEARCH_ENGINE_TOKEN`, never in the URI.

  `timeout=N` (whole seconds, default 5) bounds each engine call, retries included.

Both backends own the store's one shared read-only connection and its lock (the service
reads articles through them).
"""

from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from semsearch.errors import IndexMismatchError, IndexUnavailableError
from semsearch.index.storage.engine_backend import EngineFilter, MilvusPassages
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
from semsearch.index.storage.vectors import read_vector_index, search_vectors, stored_vectors
from semsearch.index.text.analysis import query_words
from semsearch.search.keyword import content_terms, has_all_terms
from semsearch.search.query import Filters
from semsearch.search.similar import article_vector, nearest_chunks

if TYPE_CHECKING:
    import faiss

log = logging.getLogger(__name__)

ENGINE_SCHEMES = ("milvus", "milvus+unix", "milvus+http", "milvus+https")
#: The layout of what `semsearch publish` writes into an engine (the catalog record, the
#: passage collection's fields); a server refuses another.
ENGINE_FORMAT = 1
#: The catalog key of the published index.
CURRENT_KEY = "current"
#: The table of the published store that maps index words to the engine's term ids.
TERMS_TABLE = "engine_terms"
DEFAULT_ENGINE_COLLECTION = "semsearch"
DEFAULT_ENGINE_TIMEOUT = 5
#: Stored vectors an engine-backed server keeps (about 1.5 kB each at 384 dimensions).
VECTOR_CACHE = 20_000


@dataclass(frozen=True)
class Scope:
    """The passages a query's filters admit: chunk ids (embedded) or an engine filter."""

    chunk_ids: list[int] | None = None
    engine: EngineFilter | None = None
    empty: bool = False


def is_engine_uri(index: str | Path) -> bool:
    """Whether `index` names a search engine rather than an index directory."""
    return isinstance(index, str) and index.split(":", 1)[0].lower() in ENGINE_SCHEMES


@dataclass(frozen=True)
class EngineAddress:
    """An engine URI taken apart: the client's URI, the index's name, the call timeout."""

    client_uri: str
    collection: str
    timeout: int

    def passages(self, collection: str | None = None) -> MilvusPassages:
        """A client for one of the engine's collections (the catalog's by default)."""
        return MilvusPassages(
            self.client_uri,
            collection or self.collection,
            token=os.environ.get("SEMSEARCH_ENGINE_TOKEN", ""),
            timeout=self.timeout,
        )


def parse_engine_uri(uri: str) -> EngineAddress:
    """The client URI, collection and timeout of an engine URI (see the module docstring)."""
    parsed = urlparse(uri)
    params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    unknown = set(params) - {"collection", "timeout"}
    if unknown:
        raise IndexUnavailableError(
            f"engine URI {uri!r}: unknown parameter {sorted(unknown)[0]!r} (collection, timeout)"
        )
    collection = params.get("collection", DEFAULT_ENGINE_COLLECTION)
    try:
        timeout = int(params.get("timeout", DEFAULT_ENGINE_TIMEOUT))
    except ValueError:
        raise IndexUnavailableError(f"engine URI {uri!r}: timeout is whole seconds") from None
    scheme = parsed.scheme.lower()
    if scheme == "milvus":
        path = (parsed.netloc + parsed.path) if parsed.netloc else parsed.path
        if not path.endswith(".db"):
            raise IndexUnavailableError(f"engine URI {uri!r}: a Milvus Lite path ends in .db")
        client_uri = str(Path(path).absolute())
    elif scheme == "milvus+unix":
        client_uri = f"unix:{parsed.path}"
    elif scheme in ("milvus+http", "milvus+https"):
        client_uri = f"{scheme.split('+')[1]}://{parsed.netloc}{parsed.path}"
    else:
        raise IndexUnavailableError(f"{uri!r} is not an engine URI ({', '.join(ENGINE_SCHEMES)})")
    if timeout < 1:
        raise IndexUnavailableError(f"engine URI {uri!r}: timeout must be at least 1 second")
    return EngineAddress(client_uri, collection, timeout)


def read_engine_record(uri: str) -> dict[str, Any]:
    """The catalog record of the index published at `uri`, or a clear error."""
    address = parse_engine_uri(uri)
    record = address.passages().read_record(CURRENT_KEY)
    if record is None:
        raise IndexUnavailableError(
            f"no index published at {uri}: publish one with "
            f"`semsearch publish INDEX_DIR --to {uri}`"
        )
    if record.get("engine_format") != ENGINE_FORMAT:
        raise IndexMismatchError(
            f"the index at {uri} has engine format {record.get('engine_format')}, this program "
            f"reads {ENGINE_FORMAT}: publish it again with this version of semsearch"
        )
    return record


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
        articles_dir = version_dir / ARTICLE_KEYWORD_DIR
        self.article_keyword = KeywordIndex(articles_dir) if articles_dir.is_dir() else None
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

    def keyword_search(self, text: str, depth: int, scope: Scope | None) -> list[tuple[int, float]]:
        return self.keyword.search(text, depth, None if scope is None else scope.chunk_ids)

    def has_all_terms(self, text: str, scope: Scope | None) -> bool:
        return has_all_terms(self.keyword, text, None if scope is None else scope.chunk_ids)

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
        self._vector_cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._vector_lock = threading.Lock()
        # The article-level keyword index, published beside the store when the index has one.
        articles = record.get("article_keyword")
        self.article_keyword = KeywordIndex(Path(articles)) if articles else None

    def _term_ids(self, words: Sequence[str]) -> list[int | None]:
        """Each index word's term id in the published vocabulary (None: no passage has it)."""
        missing = [w for w in dict.fromkeys(words) if w not in self._terms]
        if missing:
            marks = ",".join("?" * len(missing))
            sql = f"SELECT word, id FROM {TERMS_TABLE} WHERE word IN ({marks})"
            with self.db_lock:
                found = dict(self.db.execute(sql, missing).fetchall())
            if len(self._terms) > 100_000:
                self._terms.clear()  # a bound on the cache, not a policy
            self._terms.update({w: found.get(w) for w in missing})
        return [self._terms[w] for w in words]

    def scope(self, filters: Filters) -> Scope | None:
        if not filters.active():
            return None
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

    def keyword_search(self, text: str, depth: int, scope: Scope | None) -> list[tuple[int, float]]:
        words = list(dict.fromkeys(query_words(text)))
        weights = {t: 1.0 for t in self._term_ids(words) if t is not None}
        found = self.passages.sparse(weights, depth, None if scope is None else scope.engine)
        return [(c.chunk_id, c.score) for c in found]

    def has_all_terms(self, text: str, scope: Scope | None) -> bool:
        ids = self._term_ids(content_terms(text))
        if not ids or any(t is None for t in ids):
            return False  # no word, or a word no passage holds
        terms = [t for t in ids if t is not None]
        return self.passages.has_all_terms(terms, None if scope is None else scope.engine)

    def article_vector(
        self, chunk_ids: Sequence[int], encode: Callable[[], np.ndarray]
    ) -> np.ndarray:
        vectors = self.stored_vectors(chunk_ids)
        matrix = encode() if vectors is None else vectors
        mean = np.asarray(matrix, dtype=np.float32).mean(axis=0)
        norm = float(np.linalg.norm(mean))
        return mean / norm if norm > 0 else mean

    def stored_vectors(self, chunk_ids: Sequence[int]) -> np.ndarray | None:
        """The stored vectors of these chunk ids, a row each (None: some are missing).

        Kept in a bounded cache: a published version's vectors never change, and reading a
        few hundred of them over gRPC (article-level evidence pools every passage of each
        candidate article) took longer than the searches themselves."""
        if not chunk_ids:
            return None
        with self._vector_lock:
            missing = [c for c in dict.fromkeys(chunk_ids) if c not in self._vector_cache]
        stored = self.passages.vectors(missing) if missing else {}
        with self._vector_lock:
            cache = self._vector_cache
            cache.update(stored)
            rows = [cache.get(c) for c in chunk_ids]
            for c in chunk_ids:
                if c in cache:
                    cache.move_to_end(c)
            while len(cache) > VECTOR_CACHE:
                cache.popitem(last=False)
        if any(row is None for row in rows):
            return None
        return np.stack([row for row in rows if row is not None])

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
