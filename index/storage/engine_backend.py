"""Passages in a distributed search engine (Milvus), through the client a cluster is driven by:
groundwork for a second index backend behind `SearchService`, not yet wired into it.

`MilvusPassages` writes passages (chunk id, article id, text, vector and the filter fields
published, publication, author) to one Milvus collection and answers dense and keyword
candidate lists under a filter, applied by the engine before ranking. The keyword side is
Milvus's own BM25: a function turns the text, through the English analyzer (lower case,
stop words, Snowball stems), into a sparse vector at insert time, and the engine keeps the
IDF statistics as passages come and go. The same `pymilvus.MilvusClient` code talks to a
cluster (`http://host:19530`) or to Milvus Lite (a local `.db` path), which runs the real
C++ core as a child process listening on a unix socket only: no TCP port at all.

Fusion, grouping, highlighting and the article metadata stay in the product; this module
answers only "which chunk ids, with what score".
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from semsearch.errors import IndexUnavailableError

if TYPE_CHECKING:
    from pymilvus import MilvusClient

log = logging.getLogger(__name__)

DEFAULT_COLLECTION = "passages"
#: Milvus caps VARCHAR fields; passages are far shorter (a model window of word pieces).
MAX_TEXT = 65_535
MAX_NAME = 1_024
#: Rows per insert call: gRPC messages stay well under the 64 MB default limit at 384 dims.
INSERT_BATCH = 1_000


def published_number(published: str | None) -> int:
    """An ISO date ("2024-03-05", or a longer timestamp) as 20240305; 0 when unknown, so a
    date range filter never matches an undated passage."""
    if not published or len(published) < 10:
        return 0
    digits = published[:10].replace("-", "")
    return int(digits) if digits.isdigit() and len(digits) == 8 else 0


def milvus_string(value: str) -> str:
    """A string literal of Milvus's expression grammar: double quotes, with backslash,
    quote and control characters escaped (JSON's escapes are a subset of its own)."""
    return json.dumps(str(value), ensure_ascii=False)


@dataclass(frozen=True)
class EnginePassage:
    """One passage as the engine keeps it."""

    chunk_id: int
    article_id: str
    text: str
    vector: np.ndarray
    published: str | None = None
    publication: str = ""
    author: str = ""


@dataclass(frozen=True)
class EngineFilter:
    """Which passages a query may return; every field empty means all of them."""

    published_from: str | None = None  # ISO dates, both ends included
    published_to: str | None = None
    publications: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    article_ids: tuple[str, ...] = ()

    def expression(self) -> str:
        """The Milvus filter expression. Milvus Lite 2.5's core does not expand filter
        templates, so values are written in as literals: integers through `int`, strings
        quoted by `milvus_string`, so a quote in a name cannot change the filter."""
        terms: list[str] = []
        if self.published_from:
            terms.append(f"published >= {published_number(self.published_from):d}")
        if self.published_to:
            terms.append(f"published <= {published_number(self.published_to):d}")
        if self.published_from or self.published_to:
            terms.append("published > 0")
        for name, values in (
            ("publication", self.publications),
            ("author", self.authors),
            ("article_id", self.article_ids),
        ):
            if values:
                terms.append(f"{name} in [{', '.join(milvus_string(v) for v in values)}]")
        return " and ".join(terms)


@dataclass(frozen=True)
class Candidate:
    """A chunk the engine proposes for a query, with its score (higher is better)."""

    chunk_id: int
    article_id: str
    score: float


@dataclass
class MilvusPassages:
    """A Milvus collection of passages: write, delete, and dense or keyword candidates."""

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
    _client: MilvusClient | None = field(default=None, init=False, repr=False)

    @property
    def client(self) -> MilvusClient:
        """The connected client (Milvus Lite starts its engine process here)."""
        if self._client is None:
            from pymilvus import MilvusClient

            try:
                with warnings.catch_warnings():
                    # milvus-lite 2.5 (imported on connecting to a .db path) imports
                    # pkg_resources, which warns on import: not ours to fix.
                    warnings.filterwarnings(
                        "ignore", message="pkg_resources is deprecated", category=UserWarning
                    )
                    self._client = MilvusClient(uri=self.uri, token=self.token)
            except Exception as exc:  # pymilvus raises its own types, and gRPC's
                raise IndexUnavailableError(
                    f"the search engine at {self.uri} cannot be reached: {exc}"
                ) from exc
        return self._client

    def create(self, dimension: int, *, replace: bool = False) -> None:
        """Make the collection (schema, BM25 function, indexes); `replace` drops an old one."""
        from pymilvus import DataType, Function, FunctionType

        client = self.client
        if client.has_collection(self.collection):
            if not replace:
                raise IndexUnavailableError(
                    f"collection {self.collection!r} already exists at {self.uri}"
                )
            client.drop_collection(self.collection)
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("chunk_id", DataType.INT64, is_primary=True)
        schema.add_field("article_id", DataType.VARCHAR, max_length=MAX_NAME)
        schema.add_field(
            "text",
            DataType.VARCHAR,
            max_length=MAX_TEXT,
            enable_analyzer=True,
            analyzer_params={"type": "english"},
        )
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(dimension))
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("published", DataType.INT64)
        schema.add_field("publication", DataType.VARCHAR, max_length=MAX_NAME)
        schema.add_field("author", DataType.VARCHAR, max_length=MAX_NAME)
        schema.add_function(
            Function(
                name="text_bm25",
                function_type=FunctionType.BM25,
                input_field_names=["text"],
                output_field_names=["sparse"],
            )
        )
        indexes = client.prepare_index_params()
        # Vectors are unit length: inner product is the cosine, as in the embedded index.
        vector_params = {"nlist": 128} if self.vector_index == "IVF_FLAT" else {}
        indexes.add_index(
            "vector", index_type=self.vector_index, metric_type="IP", params=vector_params
        )
        indexes.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
        client.create_collection(
            self.collection, schema=schema, index_params=indexes, consistency_level="Strong"
        )

    def write(self, passages: Iterable[EnginePassage]) -> int:
        """Insert or replace passages by chunk id; how many were written."""
        written = 0
        batch: list[dict[str, object]] = []
        for passage in passages:
            batch.append(
                {
                    "chunk_id": int(passage.chunk_id),
                    "article_id": passage.article_id,
                    "text": passage.text[:MAX_TEXT],
                    "vector": np.asarray(passage.vector, dtype=np.float32).tolist(),
                    "published": published_number(passage.published),
                    "publication": passage.publication or "",
                    "author": passage.author or "",
                }
            )
            if len(batch) >= INSERT_BATCH:
                written += self._upsert(batch)
                batch = []
        if batch:
            written += self._upsert(batch)
        return written

    def _upsert(self, rows: list[dict[str, object]]) -> int:
        result = self.client.upsert(self.collection, rows, timeout=int(self.timeout))
        return int(result.get("upsert_count", len(rows)))

    def delete_articles(self, article_ids: Sequence[str]) -> None:
        """Remove every passage of these articles."""
        if article_ids:
            expression = EngineFilter(article_ids=tuple(article_ids)).expression()
            self.client.delete(self.collection, filter=expression, timeout=int(self.timeout))

    def count(self) -> int:
        """Passages in the collection."""
        rows = self.client.query(
            self.collection, filter="", output_fields=["count(*)"], timeout=int(self.timeout)
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
        """The `k` best BM25 matches of a query's words, among those the filter lets through."""
        return self._search([query], "sparse", {"metric_type": "BM25"}, k, filters)

    def _search(
        self,
        data: list[list[float]] | list[str],
        field_name: str,
        params: dict[str, object],
        k: int,
        filters: EngineFilter | None,
    ) -> list[Candidate]:
        expression = (filters or EngineFilter()).expression()
        try:
            hits = self.client.search(
                self.collection,
                data=data,
                anns_field=field_name,
                limit=int(k),
                filter=expression,
                search_params=params,
                output_fields=["article_id"],
                timeout=int(self.timeout),
            )
        except Exception as exc:  # the engine gone, a gRPC error
            raise IndexUnavailableError(f"the search engine did not answer: {exc}") from exc
        return [
            Candidate(int(hit["id"]), str(hit["entity"]["article_id"]), float(hit["distance"]))
            for hit in hits[0]
        ]

    def close(self) -> None:
        """Disconnect (Milvus Lite stops its engine process once nothing uses it)."""
        if self._client is not None:
            self._client.close()
            self._client = None
