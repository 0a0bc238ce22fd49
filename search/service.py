"""The search service: one object answers queries for the web app and the CLI.

It loads an index directory (manifest first, then checks files and model), encodes the
query, searches FAISS, joins the passages with their articles' metadata, and returns frozen
dataclasses. Nothing here knows about HTTP.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from index.directory import resolve_index_dir
from index.embedding import Embedder, load_embedder
from index.errors import BadQueryError, IndexUnavailableError
from index.manifest import STORE_NAME, VECTORS_NAME, check_model, read_manifest, verify_files
from index.settings import get_setting
from index.store import StoreReader
from index.vectors import read_vector_index, search_vectors
from search.highlight import find_highlights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Passage:
    """The matching passage: its text, where it sits in the article, the words to mark."""

    text: str
    chunk_id: int
    start: int
    end: int
    highlights: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class ArticleRef:
    """The article a passage comes from, with everything needed to credit it."""

    id: str
    title: str
    author: str | None
    publication: str | None
    published: str | None
    url: str | None
    site_url: str | None
    copyright: str | None
    license: str | None
    source_note: str | None
    tags: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    """One result: cosine score, passage, article."""

    score: float
    passage: Passage
    article: ArticleRef


@dataclass(frozen=True)
class SearchResult:
    """The answer to one query."""

    query: str
    k: int
    took_ms: float
    hits: list[Hit]
    index_version: str
    chunks: int


@dataclass(frozen=True)
class Query:
    """A validated query."""

    text: str
    k: int


def validate_query(q: Any, k: Any = None, settings: dict[str, Any] | None = None) -> Query:
    """Check a raw query and k at the edge; raise BadQueryError saying exactly what is wrong."""
    max_chars = int(get_setting("max_query_chars", settings))
    max_k = int(get_setting("max_k", settings))
    if q is None:
        raise BadQueryError("missing query: pass it as q, e.g. /api/search?q=tidal+power")
    if not isinstance(q, str):
        raise BadQueryError(f"q must be a string, got {type(q).__name__}")
    text = " ".join(q.split())
    if not text:
        raise BadQueryError("empty query: q must contain some words")
    if len(text) > max_chars:
        raise BadQueryError(f"query is {len(text)} characters long; the limit is {max_chars}")
    if k is None or k == "":
        k_value = int(get_setting("default_k", settings))
    elif isinstance(k, bool):
        raise BadQueryError(f"k must be an integer from 1 to {max_k}, got {k!r}")
    elif isinstance(k, int):
        k_value = k
    elif isinstance(k, str) and k.strip().isascii() and k.strip().lstrip("+").isdecimal():
        k_value = int(k.strip())
    else:
        raise BadQueryError(f"k must be an integer from 1 to {max_k}, got {k!r}")
    if not 1 <= k_value <= max_k:
        raise BadQueryError(f"k must be an integer from 1 to {max_k}, got {k_value}")
    return Query(text, k_value)


class SearchService:
    """A loaded index and its embedder, ready to answer queries from many threads."""

    def __init__(
        self, index_dir: str | Path, embedder: Embedder, settings: dict[str, Any] | None = None
    ) -> None:
        self.index_path = Path(index_dir)
        self.settings = settings or {}
        self.embedder = embedder
        self.version_dir = resolve_index_dir(self.index_path)
        self.manifest = read_manifest(self.version_dir)
        check_model(self.manifest, embedder.name, embedder.revision, embedder.dimension)
        verify_files(self.version_dir, self.manifest)
        try:
            self.vectors = read_vector_index(self.version_dir / VECTORS_NAME)
        except RuntimeError as exc:
            raise IndexUnavailableError(f"cannot read {VECTORS_NAME}: {exc}; rebuild") from exc
        self.store = StoreReader(self.version_dir / STORE_NAME)
        # One read-only connection, opened now and shared under a lock (a lookup takes well
        # under a millisecond): the open file stays readable even after a later build
        # prunes this version's folder, so threads that query late never find it gone.
        self._db = self.store.connect()
        self._db_lock = threading.Lock()
        # Fast tokenizers are not safe to share between threads mid-call.
        self._encode_lock = threading.Lock()
        counts = self.manifest.counts
        if self.vectors.ntotal != counts["chunks"]:
            raise IndexUnavailableError(
                f"{VECTORS_NAME} holds {self.vectors.ntotal} vectors, the manifest says "
                f"{counts['chunks']} chunks: rebuild the index"
            )
        log.info(
            "loaded index %s (version %s, %d chunks)",
            self.index_path,
            self.manifest.version,
            counts["chunks"],
        )

    @classmethod
    def open(cls, index_dir: str | Path, settings: dict[str, Any] | None = None) -> SearchService:
        """Load the configured model (local files only), then the index."""
        embedder = load_embedder(
            get_setting("model", settings), get_setting("batch_size", settings)
        )
        return cls(index_dir, embedder, settings)

    @property
    def chunk_count(self) -> int:
        return int(self.manifest.counts["chunks"])

    def warm_up(self) -> None:
        """Run one query end to end so the first user does not pay for lazy set-up."""
        self.search("warm up", 1)

    def search(self, query: Any, k: Any = None) -> SearchResult:
        """The k passages closest in meaning to `query`, each with its article."""
        started = time.perf_counter()
        valid = validate_query(query, k, self.settings)
        with self._encode_lock:
            vector = self.embedder.encode_query(valid.text)
        found = search_vectors(self.vectors, vector, valid.k)
        with self._db_lock:
            stored = self.store.fetch_chunks(self._db, [chunk_id for chunk_id, _ in found])
        hits = []
        for chunk_id, score in found:
            chunk = stored.get(chunk_id)
            if chunk is None:  # the manifest checks make this unreachable; never fail a query
                log.error("chunk %d is in the vectors but not in the store", chunk_id)
                continue
            hits.append(
                Hit(
                    score=round(score, 4),
                    passage=Passage(
                        chunk.text,
                        chunk.chunk_id,
                        chunk.start,
                        chunk.end,
                        tuple(find_highlights(chunk.text, valid.text)),
                    ),
                    article=ArticleRef(**chunk.article),
                )
            )
        took_ms = (time.perf_counter() - started) * 1000
        return SearchResult(
            valid.text, valid.k, round(took_ms, 2), hits, self.manifest.version, self.chunk_count
        )
