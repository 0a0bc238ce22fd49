"""Passages in a distributed search engine (Milvus), through the client a cluster is driven by.

`MilvusPassages` writes passages (chunk id, article id, vector, keyword weights and the
filter fields published, publications, author, language) to one Milvus collection and answers dense
and keyword candidate lists under a filter, applied by the engine before ranking. The same
`pymilvus.MilvusClient` code talks to a cluster (`http://host:19530`), to an engine process
on a unix socket (`unix:/path.sock`, `start_lite_engine`) or to Milvus Lite (a local `.db`
path), which runs the real C++ core as a child process listening on a unix socket only.

Keyword search has two modes:

- `"product"` (what `semsearch publish` writes): the product's own BM25, the weights of the
  index directory's bm25s matrix (Lucene's formula, the product's stemmed index words) sent
  as sparse vectors whose dimensions are term ids; a query is the sparse vector of its
  index words (1.0 each) and the engine's inner product is exactly bm25s's score. A passage
  also keeps its term ids (`terms`), so "does a passage hold every query word" is an
  `array_contains_all` filter. The price: IDF is the collection's at publish time, so an
  update re-publishes (see `semsearch.index.build.publish`).
- `"engine"`: Milvus's own BM25 function over the text with its English analyzer; the engine
  keeps IDF as passages come and go, but its scores differ from the product's (docs/scaling.md
  measures the overlap).

Filters mean what the store's SQL means (`semsearch.index.storage.store.ArticleFilter`):
dates compared as ISO strings with a prefix's last value included, a publication matched
case-folded against the article's and its syndicated copies', an author as a case-folded
substring of the byline, a language as the article's code. Fusion, grouping, highlighting
and the article metadata stay in the product; this module answers only "which chunk ids,
with what score".

The catalog of what is published (`semsearch.index.storage.milvus.catalog`) and the engine
URIs (`semsearch.index.storage.milvus.address`) live beside this client.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semsearch.errors import IndexUnavailableError
from semsearch.index.text.analysis import fold_case

if TYPE_CHECKING:
    from pymilvus import MilvusClient

log = logging.getLogger(__name__)

DEFAULT_COLLECTION = "passages"
#: Milvus caps VARCHAR fields; passages are far shorter (a model window of word pieces).
MAX_TEXT = 65_535
MAX_NAME = 1_024
#: Most distinct index words kept per passage (`terms`), and publications per article (its
#: own and its copies'): Milvus arrays have a fixed capacity.
MAX_TERMS = 4_096
MAX_PUBLICATIONS = 256
#: An ISO 639-1 code is two letters; room for a longer tag.
LANGUAGE_LENGTH = 16
#: Rows per insert call: gRPC messages stay well under the 64 MB default limit at 384 dims.
INSERT_BATCH = 1_000
#: Milvus answers at most this many hits per search (its `topk` limit).
MAX_LIMIT = 16_384
KEYWORD_MODES = ("product", "engine")

#: The table of the published store that maps index words to the engine's term ids.
TERMS_TABLE = "engine_terms"


def published_number(published: str | None) -> int:
    """An ISO date ("2024-03-05", or a longer timestamp) as 20240305; 0 when unknown."""
    if not published or len(published) < 10:
        return 0
    digits = published[:10].replace("-", "")
    return int(digits) if digits.isdigit() and len(digits) == 8 else 0


def milvus_string(value: str) -> str:
    """A string literal of Milvus's expression grammar: double quotes, with backslash,
    quote and control characters escaped (JSON's escapes are a subset of its own)."""
    return json.dumps(str(value), ensure_ascii=False)


def like_substring(value: str) -> str:
    """A `like` pattern matching `value` anywhere, its wildcards and backslashes escaped."""
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return milvus_string(f"%{escaped}%")


def collection_name(text: str) -> str:
    """A valid Milvus collection name from any text (letters, digits, underscores)."""
    name = re.sub(r"[^A-Za-z0-9_]", "_", text)
    return name if re.match(r"[A-Za-z_]", name) else f"c_{name}"


@dataclass(frozen=True)
class EnginePassage:
    """One passage as the engine keeps it. `publications` is the article's publication
    first, then its copies'; `weights` the product's BM25 weight per term id."""

    chunk_id: int
    article_id: str
    vector: np.ndarray
    text: str = ""
    published: str | None = None
    publications: tuple[str, ...] = ()
    author: str = ""
    weights: dict[int, float] = field(default_factory=dict)
    language: str = ""  # the article's ISO 639-1 code ("" unknown)


@dataclass(frozen=True)
class EngineFilter:
    """Which passages a query may return; every field empty means all of them. The same
    meaning as the store's SQL filters (`ArticleFilter.sql`)."""

    published_from: str | None = None  # ISO date prefixes, both ends included
    published_to: str | None = None
    publication: str | None = None  # the article's or one of its copies', case folded
    author: str | None = None  # a case-folded substring of the byline
    language: str | None = None  # an ISO 639-1 code, matched exactly
    article_ids: tuple[str, ...] = ()
    chunk_ids: tuple[int, ...] | None = None  # only these passages (None: any)
    not_chunk_ids: tuple[int, ...] = ()  # never these

    def expression(self) -> str:
        """The Milvus filter expression. Milvus Lite 2.5's core does not expand filter
        templates, so values are written in as literals quoted by `milvus_string`: a quote
        in a name cannot change the filter."""
        terms: list[str] = []
        if self.published_from:
            terms.append(f"published >= {milvus_string(self.published_from)}")
        if self.published_to:
            # "2017-11" must admit "2017-11-30", as the store's SQL does.
            terms.append(f"published <= {milvus_string(self.published_to + chr(0xFFFF))}")
        if self.published_from or self.published_to:
            terms.append('published != ""')  # undated (NULL in the store) never matches
        if self.publication:
            terms.append(
                f"array_contains(publications, {milvus_string(fold_case(self.publication))})"
            )
        if self.author:
            terms.append(f"author like {like_substring(fold_case(self.author))}")
        if self.language:
            terms.append(f"language == {milvus_string(self.language)}")
        if self.article_ids:
            terms.append(f"article_id in [{', '.join(milvus_string(v) for v in self.article_ids)}]")
        if self.chunk_ids is not None:
            terms.append(f"chunk_id in [{', '.join(str(int(v)) for v in self.chunk_ids)}]")
        if self.not_chunk_ids:
            terms.append(f"chunk_id not in [{', '.join(str(int(v)) for v in self.not_chunk_ids)}]")
        return " and ".join(terms)


@dataclass(frozen=True)
class Candidate:
    """A chunk the engine proposes for a query, with its score (higher is better)."""

    chunk_id: int
    article_id: str
    score: float


class _Connection:
    """One client shared by the collections of an engine, rebuilt after a failure."""

    def __init__(self) -> None:
        self.client: MilvusClient | None = None
        self.lock = threading.Lock()


@dataclass
class MilvusPassages:
    """A Milvus collection of passages: write, delete, and dense or keyword candidates.

    Every call that fails (the engine gone, a gRPC error) raises IndexUnavailableError and
    drops the client, so the next call connects again: serving resumes when the engine is
    back (for Milvus Lite's own child process, a new one is started)."""

    uri: str
    collection: str = DEFAULT_COLLECTION
    token: str = ""
    #: "FLAT" answers exactly, as the directory's FAISS index does at small sizes; a cluster
    #: would use "HNSW" or "IVF_FLAT" (Milvus Lite has only FLAT and IVF_FLAT).
    vector_index: str = "FLAT"
    #: Seconds a call may take, retries included: pymilvus otherwise retries a lost engine
    #: 75 times with backoff (3.5 minutes here) before it gives up. Whole seconds: pymilvus
    #: ignores a float timeout when it decides to stop retrying.
    timeout: int = 10
    keyword_mode: str = "product"
    _connection: _Connection = field(default_factory=_Connection, repr=False)

    def with_collection(self, collection: str, keyword_mode: str | None = None) -> MilvusPassages:
        """Another collection of the same engine, over the same connection."""
        return replace(self, collection=collection, keyword_mode=keyword_mode or self.keyword_mode)

    @property
    def client(self) -> MilvusClient:
        """The connected client (Milvus Lite starts its engine process here)."""
        connection = self._connection
        with connection.lock:
            if connection.client is None:
                from pymilvus import MilvusClient

                try:
                    with warnings.catch_warnings():
                        # milvus-lite 2.5 (imported on connecting to a .db path) imports
                        # pkg_resources, which warns on import: not ours to fix.
                        warnings.filterwarnings(
                            "ignore", message="pkg_resources is deprecated", category=UserWarning
                        )
                        # A connection of its own: pymilvus otherwise shares one per
                        # (uri, token) and a client's close() closes it for every other.
                        connection.client = MilvusClient(
                            uri=self.uri,
                            token=self.token,
                            timeout=int(self.timeout),
                            alias=f"semsearch-{uuid.uuid4().hex}",
                        )
                except Exception as exc:  # pymilvus raises its own types, and gRPC's
                    log.warning("the search engine at %s cannot be reached: %s", self.uri, exc)
                    self._forget_dead_lite_engine()
                    # What failed, not where: the message may reach API clients.
                    hint = ""
                    if "Open local milvus failed" in str(exc):
                        hint = (
                            ": a Milvus Lite database opens in one process at a time (serve "
                            "several processes through `semsearch engine` and milvus+unix://)"
                        )
                    raise IndexUnavailableError(
                        f"the search engine did not answer (connecting{hint}); operators: see "
                        "the server log"
                    ) from exc
            return connection.client

    def call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
        """A client call with the timeout; a failure drops the client and is an unavailable
        index (the details go to the log, the message says what did not answer)."""
        client = self.client
        try:
            return getattr(client, method)(*args, timeout=int(self.timeout), **kwargs)
        except Exception as exc:
            log.warning("search engine call %s on %s failed: %s", method, self.uri, exc)
            self.reset()
            # The message reaches API clients: what failed, not where (that is in the log).
            raise IndexUnavailableError(
                f"the search engine did not answer ({what}); operators: see the server log"
            ) from exc

    def reset(self) -> None:
        """Forget the client (closing it); the next call connects again."""
        connection = self._connection
        with connection.lock:
            client, connection.client = connection.client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # a dead channel may fail to close: it is dropped anyway
                log.debug("closing the engine client failed", exc_info=True)
        self._forget_dead_lite_engine()

    def _forget_dead_lite_engine(self) -> None:
        """Milvus Lite keeps one engine process per .db path for the life of this process
        and hands out its socket even after the process died: forget a dead one, so the
        next connection starts a new one."""
        if not self.uri.endswith(".db"):
            return
        try:
            from milvus_lite.server_manager import server_manager_instance
        except ImportError:
            return
        path = str(Path(self.uri).absolute().resolve())
        server = server_manager_instance._servers.get(path)
        process = getattr(server, "_p", None)
        if process is not None and process.poll() is not None:
            log.warning("the Milvus Lite engine for %s exited: a new one starts on next use", path)
            server_manager_instance.release_server(path)

    def check(self) -> None:
        """Raise IndexUnavailableError unless the engine answers and holds the collection."""
        if not self.call("a health check", "has_collection", self.collection):
            log.warning("the search engine at %s has no collection %s", self.uri, self.collection)
            # What is missing, not where (the message reaches /readyz).
            raise IndexUnavailableError(
                f"the search engine has no collection {self.collection!r}: publish the index again"
            )

    def exists(self) -> bool:
        return bool(self.call("a lookup", "has_collection", self.collection))

    def fields(self) -> frozenset[str]:
        """The collection's field names (a collection published before a field lacks it)."""
        described = self.call("a lookup", "describe_collection", self.collection)
        return frozenset(str(f["name"]) for f in described.get("fields", []))

    def create(self, dimension: int, *, replace: bool = False) -> None:
        """Make the collection (schema, keyword field, indexes); `replace` drops an old one."""
        from pymilvus import DataType, Function, FunctionType

        if self.keyword_mode not in KEYWORD_MODES:
            raise ValueError(f"keyword_mode {self.keyword_mode!r}: one of {KEYWORD_MODES}")
        if self.exists():
            if not replace:
                raise IndexUnavailableError(
                    f"collection {self.collection!r} already exists at {self.uri}"
                )
            self.drop()
        client = self.client
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("chunk_id", DataType.INT64, is_primary=True)
        schema.add_field("article_id", DataType.VARCHAR, max_length=MAX_NAME)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(dimension))
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("published", DataType.VARCHAR, max_length=64)
        schema.add_field(
            "publications",
            DataType.ARRAY,
            element_type=DataType.VARCHAR,
            max_capacity=MAX_PUBLICATIONS,
            max_length=MAX_NAME,
        )
        schema.add_field("author", DataType.VARCHAR, max_length=MAX_NAME)
        schema.add_field("language", DataType.VARCHAR, max_length=LANGUAGE_LENGTH)
        if self.keyword_mode == "engine":
            schema.add_field(
                "text",
                DataType.VARCHAR,
                max_length=MAX_TEXT,
                enable_analyzer=True,
                analyzer_params={"type": "english"},
            )
            schema.add_function(
                Function(
                    name="text_bm25",
                    function_type=FunctionType.BM25,
                    input_field_names=["text"],
                    output_field_names=["sparse"],
                )
            )
        else:
            schema.add_field(
                "terms", DataType.ARRAY, element_type=DataType.INT64, max_capacity=MAX_TERMS
            )
        indexes = client.prepare_index_params()
        # Vectors are unit length: inner product is the cosine, as in the directory's index.
        vector_params = {"nlist": 128} if self.vector_index == "IVF_FLAT" else {}
        indexes.add_index(
            "vector", index_type=self.vector_index, metric_type="IP", params=vector_params
        )
        sparse_metric = "BM25" if self.keyword_mode == "engine" else "IP"
        indexes.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type=sparse_metric)
        self.call(
            "creating a collection",
            "create_collection",
            self.collection,
            schema=schema,
            index_params=indexes,
            consistency_level="Strong",
        )

    def drop(self) -> None:
        """Drop the collection, if there is one."""
        if self.exists():
            self.call("dropping a collection", "drop_collection", self.collection)

    def write(self, passages: Iterable[EnginePassage]) -> int:
        """Insert or replace passages by chunk id; how many were written."""
        written = 0
        batch: list[dict[str, object]] = []
        for passage in passages:
            batch.append(self._row(passage))
            if len(batch) >= INSERT_BATCH:
                written += self._upsert(batch)
                batch = []
        if batch:
            written += self._upsert(batch)
        return written

    def _row(self, passage: EnginePassage) -> dict[str, object]:
        publications = list(dict.fromkeys(fold_case(p) for p in passage.publications if p))
        if len(publications) > MAX_PUBLICATIONS:
            log.warning(
                "article %s: only %d publications kept", passage.article_id, MAX_PUBLICATIONS
            )
        row: dict[str, object] = {
            "chunk_id": int(passage.chunk_id),
            "article_id": passage.article_id,
            "vector": np.asarray(passage.vector, dtype=np.float32).tolist(),
            "published": passage.published or "",
            "publications": publications[:MAX_PUBLICATIONS],
            "author": fold_case(passage.author or ""),
            "language": passage.language[:LANGUAGE_LENGTH],
        }
        if self.keyword_mode == "engine":
            row["text"] = passage.text[:MAX_TEXT]
        else:
            weights = {int(t): float(w) for t, w in passage.weights.items() if w > 0}
            if len(weights) > MAX_TERMS:  # far beyond any model window's distinct words
                log.warning("chunk %d: only %d terms kept", passage.chunk_id, MAX_TERMS)
                weights = dict(sorted(weights.items(), key=lambda tw: -tw[1])[:MAX_TERMS])
            # An empty sparse row is refused by the engine: a word id no query can carry.
            row["sparse"] = weights or {_NO_TERM: 1e-30}
            row["terms"] = sorted(weights)
        return row

    def _upsert(self, rows: list[dict[str, object]]) -> int:
        result = self.call("writing passages", "upsert", self.collection, rows)
        return int(result.get("upsert_count", len(rows)))

    def delete_articles(self, article_ids: Sequence[str]) -> None:
        """Remove every passage of these articles."""
        if article_ids:
            expression = EngineFilter(article_ids=tuple(article_ids)).expression()
            self.call("deleting passages", "delete", self.collection, filter=expression)

    def count(self, filters: EngineFilter | None = None) -> int:
        """Passages in the collection (that the filter lets through)."""
        expression = (filters or EngineFilter()).expression()
        rows = self.call(
            "counting", "query", self.collection, filter=expression, output_fields=["count(*)"]
        )
        return int(rows[0]["count(*)"])

    def dense(
        self, vector: np.ndarray, k: int, filters: EngineFilter | None = None
    ) -> list[Candidate]:
        """The `k` passages nearest to a query vector (inner product), among those the filter
        lets through."""
        data = [np.asarray(vector, dtype=np.float32).tolist()]
        return self._search(data, "vector", {"metric_type": "IP"}, k, filters)

    def keyword(self, query: str, k: int, filters: EngineFilter | None = None) -> list[Candidate]:
        """The `k` best matches of a query's words by the engine's BM25 ("engine" mode)."""
        if self.keyword_mode != "engine":
            raise ValueError("keyword() is the engine's BM25: use sparse() in product mode")
        return self._search([query], "sparse", {"metric_type": "BM25"}, k, filters)

    def sparse(
        self, weights: dict[int, float], k: int, filters: EngineFilter | None = None
    ) -> list[Candidate]:
        """The `k` best passages by inner product with a sparse query ("product" mode: the
        product's BM25 when the weights are 1.0 per query term id)."""
        if not weights:
            return []
        return self._search([weights], "sparse", {"metric_type": "IP"}, k, filters)

    def has_all_terms(self, term_ids: Sequence[int], filters: EngineFilter | None = None) -> bool:
        """Whether some passage (that the filter lets through) holds every one of these
        term ids ("product" mode)."""
        if not term_ids:
            return False
        expression = f"array_contains_all(terms, [{', '.join(str(int(t)) for t in term_ids)}])"
        scope = (filters or EngineFilter()).expression()
        if scope:
            expression = f"{expression} and {scope}"
        # A search, not a query: Milvus Lite 2.5.1 fails a query whose answer is empty
        # ("Unsupported data type: 0"); a passage holding the terms scores above zero.
        hits = self.call(
            "an exact-match check",
            "search",
            self.collection,
            data=[dict.fromkeys((int(t) for t in term_ids), 1.0)],
            anns_field="sparse",
            limit=1,
            filter=expression,
            search_params={"metric_type": "IP"},
            output_fields=[],
        )
        return bool(hits[0])

    def vectors(self, chunk_ids: Sequence[int]) -> dict[int, np.ndarray]:
        """The stored vectors of these chunk ids (those the collection has)."""
        if not chunk_ids:
            return {}
        rows = self.call(
            "reading vectors",
            "get",
            self.collection,
            ids=[int(c) for c in chunk_ids],
            output_fields=["vector"],
        )
        return {int(r["chunk_id"]): np.asarray(r["vector"], dtype=np.float32) for r in rows}

    def _search(
        self,
        data: list[list[float]] | list[str] | list[dict[int, float]],
        field_name: str,
        params: dict[str, object],
        k: int,
        filters: EngineFilter | None,
    ) -> list[Candidate]:
        limit = min(int(k), MAX_LIMIT)
        if limit <= 0:
            return []
        hits = self.call(
            "a search",
            "search",
            self.collection,
            data=data,
            anns_field=field_name,
            limit=limit,
            filter=(filters or EngineFilter()).expression(),
            search_params=params,
            output_fields=["article_id"],
        )
        found = [
            Candidate(int(hit["id"]), str(hit["entity"]["article_id"]), float(hit["distance"]))
            for hit in hits[0]
        ]
        # Ties in chunk id order, as the directory's indexes break them.
        return sorted(found, key=lambda c: (-c.score, c.chunk_id))

    def collections(self) -> list[str]:
        """Every collection of the engine."""
        return [str(name) for name in self.call("listing collections", "list_collections")]

    def close(self) -> None:
        """Disconnect (Milvus Lite stops its engine process once this process exits)."""
        connection = self._connection
        with connection.lock:
            client, connection.client = connection.client, None
        if client is not None:
            client.close()


#: The sparse dimension of a passage with no index word: never a query's term id.
_NO_TERM = 2**32 - 2
