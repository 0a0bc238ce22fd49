"""Passages in a distributed search engine (Milvus), through the client a cluster is driven by.

`MilvusPassages` writes passages (chunk id, article id, vector, keyword weights and the
filter fields published, publications, author) to one Milvus collection and answers dense
and keyword candidate lists under a filter, applied by the engine before ranking. The same
`pymilvus.MilvusClient` code talks to a cluster (`http://host:19530`), to an engine process
on a unix socket (`unix:/path.sock`, `start_lite_engine`) or to Milvus Lite (a local `.db`
path), which runs the real C++ core as a child process listening on a unix socket only.

Keyword search has two modes:

- `"product"` (what `semsearch publish` writes): the product's own BM25, the weights of the
  embedded index's bm25s matrix (Lucene's formula, the product's stemmed index words) sent
  as sparse vectors whose dimensions are term ids; a query is the sparse vector of its
  index words (1.0 each) and the engine's inner product is exactly bm25s's score. A passage
  also keeps its term ids (`terms`), so "does a passage hold every query word" is an
  `array_contains_all` filter. The price: IDF is the collection's at publish time, so an
  update re-publishes (see `semsearch.index.build.publish`).
- `"engine"`: Milvus's own BM25 function over the text with its English analyzer; the engine
  keeps IDF as passages come and go, but its scores differ from the product's (docs/scaling.md
  measures the overlap).

Filters mean what the embedded store's SQL means (`semsearch.search.query.Filters.sql`):
dates compared as ISO strings with a prefix's last value included, a publication matched
case-folded against the article's and its syndicated copies', an author as a case-folded
substring of the byline. Fusion, grouping, highlighting and the article metadata stay in
the product; this module answers only "which chunk ids, with what score".

A catalog record (`write_record`/`read_record`, collection `<name>__meta`) holds the
manifest of what was published, which passage collection and store copy are current and
which collections and store folders the index owns: publishing swaps it with one upsert of
its head row (the parts it names are written first, under a fresh nonce), as the directory
backend swaps its link.

An engine is named by an engine URI (`parse_engine_uri`; `read_engine_record` reads its
catalog), what both `semsearch publish` (`semsearch.index.build.publish`) and the serving
backend (`semsearch.search.backend`) are given:

- `milvus:///abs/path/engine.db?collection=news` (or `milvus:rel/engine.db?...`): Milvus
  Lite, its engine a child process of this one on a unix socket;
- `milvus+unix:///run/engine.sock?collection=news`: an engine process already running on
  a unix socket (`semsearch engine`), shared by every server process on the machine;
- `milvus+http://host:19530?collection=news` (or `milvus+https`): a Milvus cluster; its
  token, if any, from `SEMSEARCH_ENGINE_TOKEN`, never in the URI.

`timeout=N` (whole seconds, default 5) bounds each engine call, retries included.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import threading
import uuid
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

import numpy as np

from semsearch.errors import IndexMismatchError, IndexUnavailableError
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
#: Rows per insert call: gRPC messages stay well under the 64 MB default limit at 384 dims.
INSERT_BATCH = 1_000
#: Milvus answers at most this many hits per search (its `topk` limit).
MAX_LIMIT = 16_384
KEYWORD_MODES = ("product", "engine")
_META_PART = 60_000  # characters of a catalog record per row (VARCHAR holds 65,535 bytes)

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


@dataclass(frozen=True)
class EngineFilter:
    """Which passages a query may return; every field empty means all of them. The same
    meaning as the store's SQL filters (`Filters.sql`)."""

    published_from: str | None = None  # ISO date prefixes, both ends included
    published_to: str | None = None
    publication: str | None = None  # the article's or one of its copies', case folded
    author: str | None = None  # a case-folded substring of the byline
    article_ids: tuple[str, ...] = ()

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
        if self.article_ids:
            terms.append(f"article_id in [{', '.join(milvus_string(v) for v in self.article_ids)}]")
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
    #: "FLAT" answers exactly, as the embedded FAISS index does at small sizes; a cluster
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

    def _call(self, what: str, method: str, *args: Any, **kwargs: Any) -> Any:
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
        if not self._call("a health check", "has_collection", self.collection):
            log.warning("the search engine at %s has no collection %s", self.uri, self.collection)
            # What is missing, not where (the message reaches /readyz).
            raise IndexUnavailableError(
                f"the search engine has no collection {self.collection!r}: publish the index again"
            )

    def exists(self) -> bool:
        return bool(self._call("a lookup", "has_collection", self.collection))

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
        # Vectors are unit length: inner product is the cosine, as in the embedded index.
        vector_params = {"nlist": 128} if self.vector_index == "IVF_FLAT" else {}
        indexes.add_index(
            "vector", index_type=self.vector_index, metric_type="IP", params=vector_params
        )
        sparse_metric = "BM25" if self.keyword_mode == "engine" else "IP"
        indexes.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type=sparse_metric)
        self._call(
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
            self._call("dropping a collection", "drop_collection", self.collection)

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
        result = self._call("writing passages", "upsert", self.collection, rows)
        return int(result.get("upsert_count", len(rows)))

    def delete_articles(self, article_ids: Sequence[str]) -> None:
        """Remove every passage of these articles."""
        if article_ids:
            expression = EngineFilter(article_ids=tuple(article_ids)).expression()
            self._call("deleting passages", "delete", self.collection, filter=expression)

    def count(self, filters: EngineFilter | None = None) -> int:
        """Passages in the collection (that the filter lets through)."""
        expression = (filters or EngineFilter()).expression()
        rows = self._call(
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
        hits = self._call(
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
        rows = self._call(
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
        hits = self._call(
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
        # Ties in chunk id order, as the embedded indexes break them.
        return sorted(found, key=lambda c: (-c.score, c.chunk_id))

    def write_record(self, key: str, record: dict[str, Any]) -> None:
        """Keep a JSON record under `key` in this collection's catalog (`<name>__meta`),
        replacing the old one in one upsert.

        The parts are written first under a fresh nonce, then the head row that names the
        nonce and the part count: a reader sees the old record or the whole new one, never
        parts of both. The parts of the record before the old one are deleted then (a
        reader may still be reading the old one's)."""
        meta = self._meta()
        old_head = meta._call("reading the catalog", "get", meta.collection, ids=[key])
        old = _head(old_head[0]["value"]) if old_head else {}
        nonce = uuid.uuid4().hex
        text = json.dumps(record, sort_keys=True)
        parts = [text[i : i + _META_PART] for i in range(0, len(text), _META_PART)] or [""]
        rows = [
            {"key": f"{key}/{nonce}/{i}", "value": part, "vector": [0.0, 0.0]}
            for i, part in enumerate(parts)
        ]
        previous = {"nonce": old.get("nonce"), "parts": old.get("parts", 0)}
        head_value = json.dumps({"parts": len(parts), "nonce": nonce, "previous": previous})
        head = {"key": key, "value": head_value, "vector": [0.0, 0.0]}
        meta._call("writing the catalog", "upsert", meta.collection, rows)
        meta._call("writing the catalog", "upsert", meta.collection, [head])
        before = old.get("previous") or {}
        stale = _part_keys(key, before.get("nonce"), int(before.get("parts") or 0))
        if stale:
            try:
                meta._call("tidying the catalog", "delete", meta.collection, ids=stale)
            except IndexUnavailableError:  # the switch is made: leftovers are harmless
                log.warning("old parts of catalog record %r left in %s", key, meta.collection)

    def read_record(self, key: str) -> dict[str, Any] | None:
        """The JSON record kept under `key`, or None."""
        meta = self.with_collection(f"{self.collection}__meta")
        if not meta.exists():
            return None
        head = meta._call("reading the catalog", "get", meta.collection, ids=[key])
        if not head:
            return None
        try:
            found = json.loads(head[0]["value"])
            parts = int(found["parts"])
            keys = _part_keys(key, found.get("nonce"), parts)
            rows = {
                r["key"]: r["value"]
                for r in meta._call("reading the catalog", "get", meta.collection, ids=keys)
            }
            if set(rows) != set(keys):
                raise IndexUnavailableError(
                    f"the catalog record {key!r} of {self.collection!r} is incomplete: "
                    "publish the index again"
                )
            record = json.loads("".join(rows[k] for k in keys))
        except (ValueError, KeyError, TypeError) as exc:  # JSONDecodeError is a ValueError
            log.warning("catalog record %r of %s on %s: %r", key, meta.collection, self.uri, exc)
            raise IndexUnavailableError(
                f"the catalog record {key!r} of {self.collection!r} cannot be read: "
                "publish the index again"
            ) from exc
        if not isinstance(record, dict):
            raise IndexUnavailableError(
                f"the catalog record {key!r} of {self.collection!r} is not a record: "
                "publish the index again"
            )
        return record

    def _meta(self) -> MilvusPassages:
        from pymilvus import DataType

        meta = self.with_collection(f"{self.collection}__meta")
        if not meta.exists():
            client = self.client
            schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=256)
            schema.add_field("value", DataType.VARCHAR, max_length=MAX_TEXT)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)  # Milvus needs one
            indexes = client.prepare_index_params()
            indexes.add_index("vector", index_type="FLAT", metric_type="L2")
            meta._call(
                "creating the catalog",
                "create_collection",
                meta.collection,
                schema=schema,
                index_params=indexes,
                consistency_level="Strong",
            )
        return meta

    def collections(self) -> list[str]:
        """Every collection of the engine."""
        return [str(name) for name in self._call("listing collections", "list_collections")]

    def close(self) -> None:
        """Disconnect (Milvus Lite stops its engine process once this process exits)."""
        connection = self._connection
        with connection.lock:
            client, connection.client = connection.client, None
        if client is not None:
            client.close()


def _head(value: str) -> dict[str, Any]:
    """A catalog head row's value ({} when it cannot be read)."""
    try:
        head = json.loads(value)
    except ValueError:
        return {}
    return head if isinstance(head, dict) else {}


def _part_keys(key: str, nonce: str | None, parts: int) -> list[str]:
    """The row keys of a catalog record's parts ("key/i" for records written before the
    nonce)."""
    return [f"{key}/{nonce}/{i}" if nonce else f"{key}/{i}" for i in range(parts)]


#: The sparse dimension of a passage with no index word: never a query's term id.
_NO_TERM = 2**32 - 2


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
    catalog = parse_engine_uri(uri).passages()
    try:
        record = catalog.read_record(CURRENT_KEY)
    finally:
        catalog.close()  # a client of its own (a connection each): the watcher polls this
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


def start_lite_engine(db_path: Path, socket_path: Path) -> subprocess.Popen[bytes]:
    """Start Milvus Lite's engine on `db_path` as its own process, serving `unix:<socket>`
    (no TCP port), for clients in other processes (`uri="unix:<socket>"`) as a cluster
    would be reached. The caller holds the database's lock for as long as the engine runs
    (the engine stops when it is released): stop it with `stop_lite_engine`."""
    import fcntl

    with warnings.catch_warnings():
        # milvus-lite 2.5 imports pkg_resources, which warns on import: not ours to fix.
        warnings.filterwarnings(
            "ignore", message="pkg_resources is deprecated", category=UserWarning
        )
        from milvus_lite.server import BIN_PATH

    db_path = db_path.absolute()
    lock_path = db_path.parent / f".{db_path.name}.lock"
    lock = lock_path.open("a")
    try:
        fcntl.lockf(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as exc:
        lock.close()
        raise IndexUnavailableError(f"{db_path} is open in another engine process") from exc
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH")}
    env["LD_LIBRARY_PATH"] = BIN_PATH + ":" + os.environ.get("LD_LIBRARY_PATH", "")
    args = [
        os.path.join(BIN_PATH, "milvus"),
        str(db_path),
        f"unix:{socket_path}",
        os.environ.get("LOG_LEVEL", "ERROR"),
        str(lock_path),
    ]
    process = subprocess.Popen(args, env=env, cwd=str(db_path.parent))
    process.lock_file = lock  # type: ignore[attr-defined]  # held as long as the engine runs
    return process


def stop_lite_engine(process: subprocess.Popen[bytes], kill: bool = False) -> None:
    """Stop an engine from `start_lite_engine` (`kill`: SIGKILL, as a crash would)."""
    import fcntl

    if kill:
        process.kill()
    lock = getattr(process, "lock_file", None)
    if lock is not None:
        fcntl.lockf(lock, fcntl.LOCK_UN)  # the engine stops when its lock is released
        lock.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
