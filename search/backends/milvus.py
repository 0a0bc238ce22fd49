"""The Milvus backend: passages, vectors, the product's BM25 weights and the filter fields in
a Milvus collection (`semsearch publish` writes them: `semsearch.index.build.publish`), the
article metadata and clean text in a copy of the index's SQLite store on storage every
server reads. Named by an engine URI (`milvus:///abs/path/engine.db?collection=news`,
`milvus+unix://...`, `milvus+http://...`: `semsearch.index.storage.milvus.address`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.errors import BadQueryError, IndexMismatchError, IndexUnavailableError
from semsearch.index.storage.article_index import ArticleIndex
from semsearch.index.storage.keyword_index import bm25_idf
from semsearch.index.storage.manifest import file_digest, manifest_from_dict
from semsearch.index.storage.milvus.address import is_engine_uri, parse_engine_uri
from semsearch.index.storage.milvus.catalog import read_engine_record
from semsearch.index.storage.milvus.client import TERMS_TABLE, EngineFilter
from semsearch.index.storage.store import ArticleFilter, ServedStore
from semsearch.index.storage.vectors import pooled_vector
from semsearch.index.text.analysis import analysed_language, query_words
from semsearch.search.backends.base import Backend, Candidates, Scope
from semsearch.search.keyword import content_terms


@dataclass(frozen=True)
class EngineScope(Scope):
    """The engine's own filter expression for a query's filters."""

    engine: EngineFilter | None = None


class MilvusBackend:
    """A published index: the engine's collection of passages, and the store's copy."""

    kind = "engine"

    def __init__(self, uri: str, record: dict[str, Any]) -> None:
        self.uri = uri
        try:
            self.manifest = manifest_from_dict(record["manifest"], uri)
        except KeyError as exc:
            raise IndexUnavailableError(f"the engine's index record at {uri} lacks {exc}") from exc
        self.address = parse_engine_uri(uri)
        self.passages = self.address.passages(str(record["passages"]))
        store_path = Path(record["store"])
        if not store_path.is_file():
            raise IndexUnavailableError(
                f"the store of the index at {uri}, {store_path}, is missing: it must be on "
                "storage every server reads; publish the index again"
            )
        if file_digest(store_path) != record["store_file"]:
            raise IndexMismatchError(
                f"{store_path} does not match the checksum the engine's index records: "
                "the store was changed or replaced; publish the index again"
            )
        self.store = ServedStore(store_path)
        self._terms: dict[str, int | None] = {}
        self._language_field: bool | None = None
        # The article-level index, published beside the store when the index has one.
        articles = record.get("article_keyword")
        self.articles = ArticleIndex.open(Path(articles)) if articles else None
        self.suggestions = None  # the version's table (search/suggest.py)

    def target(self) -> str:
        return f"{self.uri}#{self.manifest.version}#{self.passages.collection}"

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
            fetched = self.store.term_ids(TERMS_TABLE, missing)
            known.update(fetched)
            if len(self._terms) > 100_000:
                self._terms.clear()  # a bound on the cache, not a policy
            self._terms.update(fetched)
        return [known[w] for w in words]

    def scope(self, where: ArticleFilter) -> Scope | None:
        if where.language and not self._has_language():
            # Published before passages carried their language: refuse, never ignore.
            raise BadQueryError(
                "the language filter needs the index published again (its passages in the "
                "search engine carry no language); or serve the index directory"
            )
        engine = EngineFilter(
            published_from=where.published_from,
            published_to=where.published_to,
            publication=where.publication,
            author=where.author,
            language=where.language,
        )
        return EngineScope(empty=self.passages.count(engine) == 0, engine=engine)

    def _has_language(self) -> bool:
        """Whether the published passages carry their article's language (asked once)."""
        if self._language_field is None:
            self._language_field = "language" in self.passages.fields()
        return self._language_field

    def narrow(
        self, scope: Scope | None, within: frozenset[int] | None, without: frozenset[int]
    ) -> Scope:
        engine = _engine_filter(scope) or EngineFilter()
        if within is not None:
            kept = set(within) - without
            if engine.chunk_ids is not None:
                kept &= set(engine.chunk_ids)
            engine = replace(engine, chunk_ids=tuple(sorted(kept)), not_chunk_ids=())
            if not kept:
                return EngineScope(empty=True, engine=engine)
        else:
            gone = tuple(sorted(set(engine.not_chunk_ids) | without))
            engine = replace(engine, not_chunk_ids=gone)
        return EngineScope(empty=self.passages.count(engine) == 0, engine=engine)

    def dense(self, vector: np.ndarray, depth: int, scope: Scope | None) -> Candidates:
        found = self.passages.dense(vector, depth, _engine_filter(scope))
        return [(c.chunk_id, c.score) for c in found]

    def keyword_search(
        self, text: str, depth: int, scope: Scope | None, language: str | None = None
    ) -> Candidates:
        words = list(dict.fromkeys(query_words(text, language=self.analysis_language(language))))
        weights = {t: 1.0 for t in self._term_ids(words) if t is not None}
        found = self.passages.sparse(weights, depth, _engine_filter(scope))
        return [(c.chunk_id, c.score) for c in found]

    def has_all_terms(self, text: str, scope: Scope | None, language: str | None = None) -> bool:
        ids = self._term_ids(content_terms(text, self.analysis_language(language)))
        if not ids or any(t is None for t in ids):
            return False  # no word, or a word no passage holds
        terms = [t for t in ids if t is not None]
        return self.passages.has_all_terms(terms, _engine_filter(scope))

    def idf_coverage(self, text: str, chunk_id: int, language: str | None = None) -> float | None:
        return None  # the engine's BM25 keeps no per-passage word lists the service can read

    def score_bound(self, text: str, language: str | None = None) -> float | None:
        """The sum of the query's words' IDFs, as published with their term ids (a word no
        passage holds at the highest IDF): the engine's sparse vectors hold the index's own
        BM25 weights, so the bound is the directory's. None for an index published before
        the IDFs were (its questions fuse linearly)."""
        words = list(dict.fromkeys(query_words(text, language=self.analysis_language(language))))
        if not words:
            return 0.0
        idfs = self.store.term_idfs(TERMS_TABLE, words)
        if idfs is None:
            return None
        unknown = bm25_idf(int(self.manifest.counts["chunks"]), 0)
        return sum(idfs.get(word, unknown) for word in words)

    def frequent_words(self, min_passages: int) -> dict[str, int] | None:
        """Not listed: the engine keeps its BM25 statistics to itself, so an index served
        from it offers no "did you mean" (synonyms and suggestions still apply)."""
        return None

    def article_vector(
        self, chunk_ids: Sequence[int], encode: Callable[[], np.ndarray]
    ) -> np.ndarray:
        vectors = self.stored_vectors(chunk_ids)
        return pooled_vector(encode() if vectors is None else vectors)

    def stored_vectors(self, chunk_ids: Sequence[int]) -> np.ndarray | None:
        """Read from the engine (more like this reads one article's; the articles' pooled
        vectors for hybrid ranking are in the article-level index); None: some are missing."""
        if not chunk_ids:
            return None
        stored = self.passages.vectors(list(dict.fromkeys(chunk_ids)))
        if any(c not in stored for c in chunk_ids):
            return None
        return np.stack([stored[c] for c in chunk_ids])

    def nearest(self, vector: np.ndarray, depth: int, exclude: Sequence[int]) -> Candidates:
        excluded = set(exclude)
        found = self.passages.dense(vector, depth + len(excluded))
        return [(c.chunk_id, c.score) for c in found if c.chunk_id not in excluded]

    def check(self) -> None:
        """Raise IndexUnavailableError unless the engine answers with the collection."""
        self.passages.check()

    def close(self) -> None:
        self.store.close()
        self.passages.close()


def _engine_filter(scope: Scope | None) -> EngineFilter | None:
    if scope is None:
        return None
    if not isinstance(scope, EngineScope):
        raise TypeError(f"the Milvus backend cannot apply {type(scope).__name__}")
    return scope.engine


class MilvusKind:
    """Indexes published into Milvus, named by engine URIs."""

    name = "engine"

    def handles(self, index: str | Path) -> bool:
        return is_engine_uri(index)

    def open(self, index: str | Path, settings: Mapping[str, Any] | None = None) -> Backend:
        uri = str(index)
        record = read_engine_record(uri)
        if record.get("live"):  # a live index's dense side (semsearch.index.live.engine)
            from semsearch.search.backends.live_engine import LiveEngineBackend

            return LiveEngineBackend(uri, record, settings)
        backend = MilvusBackend(uri, record)
        try:
            count = backend.passages.count()
            if count != backend.manifest.counts["chunks"]:
                raise IndexUnavailableError(
                    f"the engine holds {count} passages of the index at {uri}, its manifest "
                    f"says {backend.manifest.counts['chunks']}: publish the index again"
                )
        except IndexUnavailableError:
            backend.close()
            raise
        return backend

    def target(self, index: str | Path) -> str:
        # The same version published again is a new collection: both name what is served.
        record = read_engine_record(str(index))
        if record.get("live"):
            from semsearch.search.backends.live_engine import live_target

            return live_target(str(index), record)
        return f"{index}#{record['manifest']['version']}#{record['passages']}"

    def source_directory(self, index: str | Path) -> Path:
        from semsearch.index.build.publish import engine_source

        return engine_source(str(index))

    def after_update(self, index: str | Path, source: Path) -> str:
        """An engine's index changes in the directory it was published from, which is then
        published again (`semsearch.index.build.publish` says why)."""
        from semsearch.index.build.publish import engine_store_dir, publish_index

        report = publish_index(source, str(index), store_dir=engine_store_dir(str(index)))
        return report.summary()
