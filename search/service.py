"""The search service: one object answers queries for the web app and the CLI.

It loads an index directory or an index published in a search engine (manifest first, then
checks files and model), encodes the query, asks the backend for candidates (FAISS + BM25,
or the engine: `semsearch.search.backend`), fuses, groups and joins the passages with their
articles' metadata, and returns frozen dataclasses. Nothing here knows about HTTP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.errors import IndexUnavailableError, NotFoundError
from semsearch.index.embed import Embedder, load_embedder, prompts_of
from semsearch.index.storage.directory import resolve_index_dir
from semsearch.index.storage.keyword_index import KeywordIndex
from semsearch.index.storage.manifest import (
    check_model,
    read_manifest,
    verify_files,
)
from semsearch.index.storage.store import StoredChunk
from semsearch.index.text.languages import query_language
from semsearch.search.articles import article_share, blend
from semsearch.search.backend import (
    EmbeddedBackend,
    RetrievalBackend,
    Scope,
    is_engine_uri,
    open_engine_index,
)
from semsearch.search.dates import InferredDates, infer_dates
from semsearch.search.facets import (
    FACET_FILTERS,
    article_facts,
    count_facet,
    date_ordered,
    matched_chunks,
)
from semsearch.search.fusion import Fusion, for_coverage, fuse
from semsearch.search.highlight import best_sentence, find_highlights, near_duplicate, shingle
from semsearch.search.query import MAX_DEPTH, Query, validate_query
from semsearch.search.similar import copy_ids
from semsearch.search.strength import mark_strength
from semsearch.settings import explicit_setting, get_setting

log = logging.getLogger(__name__)

#: With group=article, the most other passages listed under an article.
MAX_ALSO = 3


@dataclass(frozen=True)
class Passage:
    """The matching passage: its text, where it sits in the article (character offsets in
    the article's clean text), the words to mark and its best-matching sentence (offsets in
    the passage)."""

    text: str
    chunk_id: int
    start: int
    end: int
    highlights: tuple[tuple[int, int], ...] = ()
    best_sentence: tuple[int, int] | None = None


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
    copies: tuple[CopyRef, ...] = ()  # the same story under other publications
    language: str | None = None  # ISO 639-1 code; "" unknown, None: an index before format 6


@dataclass(frozen=True)
class CopyRef:
    """Another publication of an article (a syndicated copy found at ingest): a hit lists
    publication, URL and date; the article read back also its id, origin and similarity."""

    publication: str | None
    url: str | None
    published: str | None
    id: str = ""
    origin: str = ""
    similarity: float | None = None


def article_ref(fields: Mapping[str, Any]) -> ArticleRef:
    """An ArticleRef from the store's article fields, its copies (dicts there) made CopyRefs."""
    copies = tuple(CopyRef(**copy) for copy in fields.get("copies", ()))
    return ArticleRef(**{**fields, "copies": copies})


@dataclass(frozen=True)
class Hit:
    """One result: fused score, the retrievers' own scores, passage, article; with
    group=article, the article's other matching passages under it."""

    score: float
    passage: Passage
    article: ArticleRef
    dense_score: float | None = None
    keyword_score: float | None = None
    also: tuple[Passage, ...] = ()
    strength: str | None = None  # strong or weak (semsearch.search.strength)


@dataclass(frozen=True)
class FullArticle:
    """An article read back whole: its credits, where it was read from, its other stored
    fields (`extra`: site URL, bio, links, ...), the clean text exactly as indexed, and its
    passages as (chunk id, start, end) offsets into that text, in reading order."""

    article: ArticleRef
    origin: str
    extra: dict[str, Any]
    text: str
    passages: tuple[tuple[int, int, int], ...]
    #: The input file, and the line (JSONL, CSV) or WARC record id and fetch date in it.
    provenance: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    """The answer to one query."""

    query: str
    k: int
    took_ms: float
    hits: list[Hit]
    index_version: str
    chunks: int
    mode: str = "hybrid"
    group: str | None = None
    filters: dict[str, str] = field(default_factory=dict)
    reason: str | None = None  # why the list is empty, when it is
    page: int = 1
    has_next: bool = False
    facets: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Date filters read from the query's words (also in `filters`), with the phrase.
    inferred: dict[str, str] | None = None
    sort: str = "relevance"
    past_end: bool = False  # the page is past the last result (`reason` says so)
    #: The language the query's words were analysed in (ISO 639-1; "" unknown).
    language: str | None = None


#: One round of retrieval: the dense, keyword and fused lists, and the matched chunk ids.
_Candidates = tuple[
    list[tuple[int, float]], list[tuple[int, float]], list[tuple[int, float]], list[int]
]


@dataclass(frozen=True)
class SimilarResult:
    """The articles most like one article: each once, with its closest passage."""

    article: ArticleRef
    k: int
    took_ms: float
    hits: list[Hit]


@dataclass(frozen=True)
class _Ranking:
    """The ranked hits of one query to the depth its page needs, and what facets reuse:
    the matched chunk ids of its first candidate list, its query vector and filter."""

    hits: list[Hit]
    reason: str | None = None
    matched: list[int] = field(default_factory=list)
    vector: np.ndarray | None = None
    depth: int = 0


class SearchService:
    """A loaded index and its embedder, ready to answer queries from many threads."""

    def __init__(
        self, index_dir: str | Path, embedder: Embedder, settings: dict[str, Any] | None = None
    ) -> None:
        self.settings = settings or {}
        self.embedder = embedder
        # Where candidates come from (semsearch.search.backend): an index directory, or a
        # search engine named by its URI, whose manifest is in the engine's catalog.
        self.backend: RetrievalBackend
        self.index_path: str | Path
        self.version_dir: str | Path
        engine = is_engine_uri(index_dir)
        if engine:
            self.index_path = str(index_dir)
            self.manifest, self.backend = open_engine_index(str(index_dir))
            self.version_dir = f"{index_dir}#{self.manifest.version}"
        else:
            self.index_path = Path(index_dir)
            self.version_dir = resolve_index_dir(self.index_path)
            self.manifest = read_manifest(self.version_dir)
        try:
            check_model(
                self.manifest,
                embedder.name,
                embedder.revision,
                embedder.dimension,
                prompts_of(embedder).as_dict(),
            )
        except IndexUnavailableError:
            if engine:
                self.backend.close()
            raise
        if isinstance(self.version_dir, Path):
            verify_files(self.version_dir, self.manifest)
            _single_threaded_faiss()
            self.backend = EmbeddedBackend(self.version_dir, self.manifest)
        # Article-level evidence (semsearch.search.articles); indexes built before it lack it.
        self.articles = self.backend.articles
        # The store's one read-only connection, opened by the backend and shared under a
        # lock (a lookup takes well under a millisecond): the open file stays readable even
        # after a later build prunes this version's folder.
        self.store = self.backend.store
        self._db = self.backend.db
        self._db_lock = self.backend.db_lock
        # A date read from a question filters out undated articles: in a collection with no
        # dates at all it would only ever empty the answer, so it is not read there.
        self._has_dates = self.store.has_dates(self._db)
        log.info(
            "loaded index %s (version %s, %d chunks, %s backend)",
            self.index_path,
            self.manifest.version,
            self.manifest.counts["chunks"],
            self.backend.kind,
        )

    @property
    def vectors(self) -> Any:
        """The FAISS index of a directory backend (build-time tuning and studies use it)."""
        return self._embedded().vectors

    @property
    def keyword(self) -> KeywordIndex:
        """The bm25s keyword index of a directory backend."""
        return self._embedded().keyword

    def _embedded(self) -> EmbeddedBackend:
        if not isinstance(self.backend, EmbeddedBackend):
            raise IndexUnavailableError(f"{self.index_path} is served by a search engine")
        return self.backend

    def check_ready(self) -> None:
        """Raise IndexUnavailableError when the backend cannot answer now (an engine that
        stopped); /readyz asks this."""
        self.backend.check()

    @classmethod
    def open(cls, index_dir: str | Path, settings: dict[str, Any] | None = None) -> SearchService:
        """Load the configured model (local files only), then the index."""
        embedder = load_embedder(
            get_setting("model", settings), get_setting("batch_size", settings), settings=settings
        )
        return cls(index_dir, embedder, settings)

    def close(self) -> None:
        """Release the store's connection (and with it the file). Searching after this fails."""
        self.backend.close()

    @property
    def chunk_count(self) -> int:
        return int(self.manifest.counts["chunks"])

    def article(self, article_id: str) -> FullArticle:
        """The whole article with this id; NotFoundError if the index has none."""
        with self._db_lock:
            stored = self.store.fetch_article(self._db, article_id)
        if stored is None:
            raise NotFoundError(f"no article with id {article_id!r} in this index")
        return FullArticle(
            article=article_ref({**stored.article, "copies": stored.copies}),
            origin=stored.origin,
            extra=stored.extra,
            text=stored.text,
            passages=stored.passages,
            provenance=stored.provenance,
        )

    def passage(self, chunk_id: int, query: str = "") -> Passage | None:
        """One stored passage with `query`'s words and best sentence marked, as a hit shows
        it (for the article page reached from a hit); None for an unknown chunk id."""
        with self._db_lock:
            chunk = self.store.fetch_chunks(self._db, [chunk_id]).get(chunk_id)
        if chunk is None:
            return None
        text = " ".join(query.split())
        # The query's language is not known here: its words are read in the article's.
        language = chunk.article.get("language") or None
        highlights = find_highlights(chunk.text, text, language) if text else []
        best = (
            best_sentence(chunk.text, text, chunk.sentences, highlights, language) if text else None
        )
        return Passage(chunk.text, chunk.chunk_id, chunk.start, chunk.end, tuple(highlights), best)

    def similar(self, article_id: str, k: int = 10) -> SimilarResult:
        """The k articles nearest to this one by their stored passage vectors (their mean),
        leaving out the article and its copies; NotFoundError for an unknown id."""
        started = time.perf_counter()
        found = self.article(article_id)
        chunk_ids = [cid for cid, _, _ in found.passages]

        def encode() -> np.ndarray:
            return self.embedder.encode_documents([found.text[s:e] for _, s, e in found.passages])

        vector = self.backend.article_vector(chunk_ids, encode)
        excluded = {article_id} | copy_ids(found.extra, found.article.copies)
        depth = max(int(get_setting("candidates", self.settings)), k * 10)
        while True:
            ranked = self.backend.nearest(vector, depth, chunk_ids)
            hits: list[Hit] = []
            listed: set[str] = set()
            for _, score, chunk in self._fetched(ranked, first=max(2 * k, 20)):
                if chunk is None or chunk.article["id"] in excluded | listed:
                    continue
                listed.add(chunk.article["id"])
                passage = Passage(chunk.text, chunk.chunk_id, chunk.start, chunk.end)
                hits.append(Hit(round(score, 4), passage, article_ref(chunk.article), score))
                if len(hits) >= k:
                    break
            if len(hits) >= k or depth >= self.chunk_count:
                break
            depth = min(depth * 4, self.chunk_count)
        took_ms = round((time.perf_counter() - started) * 1000, 2)
        return SimilarResult(found.article, k, took_ms, hits)

    def copy_owners(self) -> dict[str, str]:
        """Each syndicated copy's id (found at ingest) and the id of the article indexed for
        it: evaluation credits a judged copy to that article."""
        with self._db_lock:
            return self.store.copy_owners(self._db)

    def warm_up(self) -> None:
        """Run one query end to end so the first user does not pay for lazy set-up."""
        self.search("warm up", 1)

    def fusion(self) -> Fusion:
        """Fusion settings: a chosen setting (config or environment) wins, then what the
        build tuned for this collection, then the defaults."""
        tuned = self.manifest.fusion or {}

        def pick(name: str, tuned_name: str) -> Any:
            chosen = explicit_setting(name, self.settings)
            if chosen is not None:
                return chosen
            return tuned.get(tuned_name, get_setting(name))

        return Fusion(
            method=str(pick("fusion", "method")),
            dense_weight=float(pick("dense_weight", "dense_weight")),
            rrf_k=int(get_setting("rrf_k", self.settings)),
        )

    def min_score(self) -> float:
        """The "no good match" threshold: a `min_score` you chose (config or environment)
        wins, then the one the build calibrated for this model and collection (`no_match`
        in the manifest, `semsearch.search.calibration`), then the default."""
        chosen = explicit_setting("min_score", self.settings)
        if chosen is not None:
            return float(chosen)
        calibrated = (self.manifest.no_match or {}).get("min_score")
        if calibrated is not None:
            return float(calibrated)
        return float(get_setting("min_score", self.settings))

    def search(
        self,
        query: Query | str,
        k: int | None = None,
        *,
        mode: str | None = None,
        group: str | None = None,
        filters: Mapping[str, str | None] | None = None,
    ) -> SearchResult:
        """The k passages that best answer `query`, each with its article and credit.

        `query` is a request already validated with this service's settings (as the web
        layer does), or the query's text with its options, validated here."""
        started = time.perf_counter()
        if isinstance(query, Query):
            if (k, mode, group, filters) != (None, None, None, None):
                raise TypeError("a validated Query carries its own k, mode, group and filters")
            valid = query
        else:
            params = {"q": query, "k": k, "mode": mode, "group": group, **(filters or {})}
            valid = validate_query(params, self.settings)
        searched, inferred = self._with_inferred_dates(valid)
        searched = self._with_language(searched)
        ranking = self._ranked_hits(searched)
        start = (valid.page - 1) * valid.k
        hits = mark_strength(ranking.hits, valid.mode)[start : start + valid.k]
        reason, past_end = ranking.reason, not hits and bool(ranking.hits)
        if past_end:
            pages = -(-len(ranking.hits) // valid.k)
            reason = (
                f"page {valid.page} is past the last result: this query has "
                f"{len(ranking.hits)} results, {pages} page{'s' * (pages != 1)} of {valid.k}"
            )
        took_ms = (time.perf_counter() - started) * 1000
        return SearchResult(
            valid.text,
            valid.k,
            round(took_ms, 2),
            hits,
            self.manifest.version,
            self.chunk_count,
            valid.mode,
            valid.group,
            searched.filters.as_dict(),
            reason,
            page=valid.page,
            has_next=len(ranking.hits) > start + valid.k,
            facets=self._facets(searched, ranking),
            inferred=None if inferred is None else inferred.as_dict(),
            sort=valid.sort,
            past_end=past_end,
            language=searched.lang,
        )

    def _with_language(self, query: Query) -> Query:
        """The query with the language its words are analysed in: `lang` when given, else
        detected, else (a query too short to tell) the collection's main language."""
        fallback = self.backend.analysis_language(None)
        known = self.backend.languages()
        language = query.lang or query_language(query.text, fallback, known)
        return query.model_copy(update={"lang": self.backend.analysis_language(language)})

    def _with_inferred_dates(self, query: Query) -> tuple[Query, InferredDates | None]:
        """The query to run: with infer_dates, date words read as date filters and left out
        of the searched text; dates the user gave turn the inference off."""
        if not query.infer_dates or query.published_from or query.published_to:
            return query, None
        if not self._has_dates:
            return query, None
        # Absolute dates only: an archive's "this year" is rarely the reader's (see dates.py).
        found = infer_dates(query.text, relative=False)
        if found is None:
            return query, None
        update = {
            "text": found.text,
            "published_from": found.published_from,
            "published_to": found.published_to,
        }
        return query.model_copy(update=update), found

    def _allowed(self, query: Query) -> Scope | None:
        """The passages the query's filters admit (the backend's scope); None without filters."""
        return self.backend.scope(query.filters)

    def _facets(self, query: Query, ranking: _Ranking) -> dict[str, dict[str, int]]:
        """Matching articles per publication, author and year; each facet counted with its
        own filter removed, so a filtered facet still shows its other values."""
        if not ranking.depth:
            return {name: {} for name in FACET_FILTERS}
        matched: dict[tuple[str, ...], list[int]] = {(): ranking.matched}
        facets = {}
        for name, names in FACET_FILTERS.items():
            active = tuple(n for n in names if getattr(query, n))
            if active not in matched:
                wider = query.model_copy(update=dict.fromkeys(active))
                # Counted, not ranked: the order of the matches (and so the articles'
                # re-scoring) does not change a count.
                found = self._candidates(
                    wider, ranking.vector, self._allowed(wider), ranking.depth, rank_articles=False
                )
                matched[active] = [] if isinstance(found, str) else found[3]
            with self._db_lock:
                facts = article_facts(self._db, matched[active])
            facets[name] = count_facet(name, facts.values())
        return facets

    def _candidates(
        self,
        query: Query,
        vector: np.ndarray | None,
        allowed: Scope | None,
        depth: int,
        *,
        rank_articles: bool = True,
    ) -> str | _Candidates:
        """One round of retrieval at `depth`: the dense, keyword and fused lists and the
        matched chunk ids, or why nothing is answered; without `rank_articles` the fused list
        is not re-scored with article-level evidence (facets only count its matches)."""
        if allowed is not None and allowed.empty:
            return "no article matches the filters"
        threshold = self.min_score()
        dense: list[tuple[int, float]] = []
        keyword: list[tuple[int, float]] = []
        if vector is not None:
            dense = self.backend.dense(vector, depth, allowed)
            if dense and dense[0][1] < threshold:
                if not self._exact_match(query, allowed):
                    return (
                        f"no passage is close enough to the query (best similarity "
                        f"{dense[0][1]:.2f}, threshold {threshold:.2f})"
                    )
                # Answering on the exact match alone: no passage under the threshold
                # rides along on its dense score.
                dense = []
        if query.mode in ("keyword", "hybrid"):
            keyword = self.backend.keyword_search(query.text, depth, allowed, query.lang)
            if query.mode == "keyword" and not keyword:
                return "no passage contains any of the query's words"
        if query.mode == "dense":
            ranked = dense
        elif query.mode == "keyword":
            ranked = keyword
        else:
            coverage = self.backend.keyword_coverage(query.text, query.lang) if keyword else 1.0
            ranked = fuse(dense, keyword, for_coverage(self.fusion(), coverage))
            if rank_articles:
                ranked = self._with_articles(query, vector, ranked)
        return dense, keyword, ranked, matched_chunks(dense, keyword, ranked, threshold)

    def _article_share(self, query: Query) -> float:
        """How much of article_weight a query gets (`semsearch.search.articles`)."""
        passage = int(self.manifest.chunker.get("chunk_tokens") or 200)
        return article_share(len(self.embedder.token_offsets(query.text)), passage)

    def _with_articles(
        self, query: Query, vector: np.ndarray | None, fused: list[tuple[int, float]]
    ) -> list[tuple[int, float]]:
        """The fused passages re-scored with their articles' whole-article evidence
        (`semsearch.search.articles`); unchanged without it or at article_weight 0."""
        weight = float(get_setting("article_weight", self.settings)) * self._article_share(query)
        if weight <= 0 or self.articles is None or vector is None or not fused:
            return fused
        with self._db_lock:
            chunk_article = self.store.article_keys(self._db, [cid for cid, _ in fused])
        keys = sorted(set(chunk_article.values()))
        dense = self.articles.dense_scores(vector, keys)
        keyword = self.articles.keyword_scores(query.text, keys, query.lang)
        return blend(fused, chunk_article, dense, keyword, self.fusion(), weight)

    def _ranked_hits(self, query: Query) -> _Ranking:
        """The ranked, de-duplicated (and grouped) hits from the first to the end of the
        query's page, one more to tell whether a next page exists."""
        allowed = self._allowed(query)
        if allowed is not None and allowed.empty:
            return _Ranking([], "no article matches the filters")
        vector = None
        if query.mode in ("dense", "hybrid"):
            vector = self.embedder.encode_query(query.text)  # embedders are thread-safe
        # Candidates well beyond k: fusion, duplicates and grouping all eat into them. The
        # first depth depends on k alone, not on the page: every page ranks the same list.
        depth = max(int(get_setting("candidates", self.settings)), query.k * 4)
        if query.group:
            depth = max(depth, query.k * 10)
        first_depth = depth
        wanted = query.model_copy(update={"k": min(query.page * query.k + 1, MAX_DEPTH)})
        ranked: list[tuple[int, float]] = []
        dense_scores: dict[int, float] = {}
        keyword_scores: dict[int, float] = {}
        matched: list[int] | None = None
        while True:
            found = self._candidates(query, vector, allowed, depth)
            if isinstance(found, str):
                return _Ranking([], found)
            dense, keyword, fused, level_matched = found
            dense_scores.update(dense)
            keyword_scores.update(keyword)
            if matched is None:
                matched = level_matched
                if query.sort != "relevance":
                    # The matches, not the whole collection, ordered by date: one fixed set.
                    with self._db_lock:
                        facts = article_facts(self._db, matched)
                    in_order = dict(fused)
                    by_date = date_ordered(
                        [(cid, in_order[cid]) for cid in matched], facts, query.sort == "newest"
                    )
                    hits = self._hits(wanted, by_date, dense_scores, keyword_scores)
                    return _Ranking(hits, None, matched, vector, first_depth)
            # A deeper list fuses differently (min-max spans move): keep the order already
            # ranked and append only the new candidates, so no page re-orders earlier ones.
            seen = {cid for cid, _ in ranked}
            ranked = ranked + [(cid, score) for cid, score in fused if cid not in seen]
            hits = self._hits(wanted, ranked, dense_scores, keyword_scores)
            exhausted = len(dense) < depth and len(keyword) < depth
            if len(hits) >= wanted.k or exhausted or depth >= self.chunk_count:
                return _Ranking(hits, None, matched, vector, first_depth)
            # A few long articles or many duplicates used up the candidates: look deeper.
            depth = min(depth * 4, self.chunk_count)

    def _exact_match(self, query: Query, allowed: Scope | None) -> bool:
        """In hybrid mode, a passage with every query word is evidence enough to answer:
        a rare name can be far from everything in meaning and still be right there."""
        if query.mode != "hybrid":
            return False
        return self.backend.has_all_terms(query.text, allowed, query.lang)  # reads only

    def _hits(
        self,
        query: Query,
        ranked: list[tuple[int, float]],
        dense: dict[int, float],
        keyword: dict[int, float],
    ) -> list[Hit]:
        """Join ranked chunk ids with their text and article, drop near-duplicates, group."""
        kept: list[Hit] = []
        by_article: dict[str, int] = {}
        shingles: list[set[tuple[str, ...]]] = []

        def passage_of(chunk: StoredChunk) -> Passage:
            # Built only for what is returned: highlighting is the costly part of a hit.
            highlights = find_highlights(chunk.text, query.text, query.lang)
            return Passage(
                chunk.text,
                chunk.chunk_id,
                chunk.start,
                chunk.end,
                tuple(highlights),
                best_sentence(chunk.text, query.text, chunk.sentences, highlights, query.lang),
            )

        for chunk_id, score, chunk in self._fetched(ranked, first=max(2 * query.k, 20)):
            if chunk is None:  # the manifest checks make this unreachable; never fail a query
                log.error("chunk %d is ranked but not in the store", chunk_id)
                continue
            article_id = chunk.article["id"]
            if query.group and article_id in by_article:
                index = by_article[article_id]
                if len(kept[index].also) < MAX_ALSO:
                    also = (*kept[index].also, passage_of(chunk))
                    kept[index] = replace(kept[index], also=also)
                continue
            if len(kept) >= query.k:
                if query.group:
                    continue  # still collecting passages for the articles already listed
                break
            words = shingle(chunk.text)
            if any(near_duplicate(words, seen) for seen in shingles):
                continue  # a syndicated copy or a repeated paragraph
            shingles.append(words)
            by_article[article_id] = len(kept)
            kept.append(
                Hit(
                    score=round(score, 4),
                    passage=passage_of(chunk),
                    article=article_ref(chunk.article),
                    dense_score=_rounded(dense.get(chunk_id)),
                    keyword_score=_rounded(keyword.get(chunk_id)),
                )
            )
        return kept

    def _fetched(
        self, ranked: list[tuple[int, float]], first: int
    ) -> Iterator[tuple[int, float, StoredChunk | None]]:
        """The ranked chunks with their text and article, read from the store a page at a
        time: most queries need little more than k of the candidates, and reading all of
        them (hundreds, for hybrid) was most of a query's time."""
        start, size = 0, first
        while start < len(ranked):
            page = ranked[start : start + size]
            with self._db_lock:
                stored = self.store.fetch_chunks(self._db, [cid for cid, _ in page])
            for chunk_id, score in page:
                yield chunk_id, score, stored.get(chunk_id)
            start, size = start + size, size * 2


def _single_threaded_faiss() -> None:
    """One OpenMP thread per FAISS search: a server runs many searches at once, one per
    request thread, and OpenMP threads spinning against each other made searches several
    times slower under load (docs/benchmarks.md)."""
    import faiss

    faiss.omp_set_num_threads(1)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
