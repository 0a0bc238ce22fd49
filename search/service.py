"""The search service: one object answers queries for the web app and the CLI.

It opens an index through its backend (`semsearch.search.backends`: a directory, or an
index published in a search engine; the manifest is read and checked first), checks the
model against it, and answers: the request validated (`semsearch.search.query`), dates read
from the question, the hits ranked (`semsearch.search.ranking`), paged, marked strong or
weak, with facets; articles read back whole, single passages, similar articles. It returns
frozen dataclasses (`semsearch.search.results`). Nothing here knows about HTTP.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from semsearch.errors import IndexUnavailableError, NotFoundError
from semsearch.index.embed import Embedder, check_embedder, load_embedder
from semsearch.index.text.languages import query_language
from semsearch.search.backends import Backend, Scope, open_backend
from semsearch.search.budget import Deadline
from semsearch.search.constraints import Restriction, load_word_index, restriction_of
from semsearch.search.dates import InferredDates, infer_dates
from semsearch.search.facets import FACET_FILTERS, count_facet
from semsearch.search.fusion import Fusion
from semsearch.search.highlight import best_sentence, find_highlights
from semsearch.search.query import Query, validate_query
from semsearch.search.ranking import Ranker, Ranking, RankingSettings
from semsearch.search.recency import half_life_days
from semsearch.search.results import (
    ArticleRef,
    CopyRef,
    FullArticle,
    Hit,
    Passage,
    SearchResult,
    SimilarResult,
    article_ref,
)
from semsearch.search.similar import copy_ids
from semsearch.search.spelling import Speller, typo_gain, with_spelling
from semsearch.search.strength import mark_strength
from semsearch.search.suggest import Suggestion, load_suggester
from semsearch.search.synonyms import load_synonyms, with_synonyms
from semsearch.search.syntax import check_limits, parse_query
from semsearch.settings import get_setting

__all__ = [
    "ArticleRef",
    "CopyRef",
    "FullArticle",
    "Hit",
    "Passage",
    "SearchResult",
    "SearchService",
    "SimilarResult",
    "validate_query",
]

log = logging.getLogger(__name__)

#: Why nothing is answered when no passage holds the query's phrases or passes its exclusions.
_UNMATCHED = "no passage holds the query's phrases, outside its exclusions and field scopes"


class SearchService:
    """A loaded index and its embedder, ready to answer queries from many threads."""

    def __init__(
        self, index_dir: str | Path, embedder: Embedder, settings: dict[str, Any] | None = None
    ) -> None:
        self.settings = settings or {}
        self.embedder = embedder
        # An engine URI stays a string (a Path would fold its "//").
        self.index_path: str | Path = index_dir if isinstance(index_dir, str) else Path(index_dir)
        self.backend: Backend = open_backend(index_dir, self.settings)
        self.manifest = self.backend.manifest
        try:
            check_embedder(self.manifest, embedder)
        except IndexUnavailableError:
            self.backend.close()
            raise
        #: What is served, as `semsearch.search.backends.index_target` names it.
        self.target = self.backend.target()
        # Did you mean and synonyms: read with the version, so they reload with the index.
        self.speller = Speller.load(self.backend)
        self._typo_gain = typo_gain(self.manifest.no_match)
        self.synonyms = load_synonyms(self.backend, self.settings)
        self.suggestions = load_suggester(self.backend)
        self.words = load_word_index(self.backend)
        if self.speller is not None and self.words is not None:
            words = self.words
            self.speller.surface_held = lambda word: words.holds("text", word)
        self.ranker = Ranker(
            with_synonyms(self.backend, self.synonyms),
            embedder,
            RankingSettings.load(self.manifest, self.settings),
        )
        # A date read from a question filters out undated articles: in a collection with no
        # dates at all it would only ever empty the answer, so it is not read there.
        self._has_dates = self.backend.store.has_dates()
        # Each search's time budget (semsearch.search.budget), read once as the rest.
        self._timeout_ms = float(get_setting("search_timeout_ms", self.settings))
        # The index-wide recency blend (semsearch.search.recency), checked once, at load.
        recency = str(get_setting("recency", self.settings))
        self._recency = None if half_life_days(recency) is None else recency
        log.info(
            "loaded index %s (version %s, %d chunks, %s backend)",
            self.index_path,
            self.manifest.version,
            self.manifest.counts["chunks"],
            self.backend.kind,
        )

    @classmethod
    def open(cls, index_dir: str | Path, settings: dict[str, Any] | None = None) -> SearchService:
        """Load the configured model (local files only), then the index."""
        embedder = load_embedder(
            get_setting("model", settings), get_setting("batch_size", settings), settings=settings
        )
        return cls(index_dir, embedder, settings)

    def check_ready(self) -> None:
        """Raise IndexUnavailableError when the backend cannot answer now (an engine that
        stopped); /readyz asks this."""
        self.backend.check()

    def close(self) -> None:
        """Release the backend's files and connections. Searching after this fails."""
        self.backend.close()

    @property
    def chunk_count(self) -> int:
        return int(self.manifest.counts["chunks"])

    def fusion(self) -> Fusion:
        """Fusion settings: a chosen setting (config or environment) wins, then what the
        build tuned for this collection, then the defaults (read once, at load)."""
        return self.ranker.settings.fusion

    def min_score(self) -> float:
        """The "no good match" threshold: a `min_score` you chose (config or environment)
        wins, then the one the build calibrated for this model and collection (`no_match`
        in the manifest, `semsearch.search.calibration`), then the default."""
        return self.ranker.settings.min_score

    def article(self, article_id: str) -> FullArticle:
        """The whole article with this id; NotFoundError if the index has none."""
        stored = self.backend.store.fetch_article(article_id)
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
        chunk = self.backend.store.fetch_chunks([chunk_id]).get(chunk_id)
        if chunk is None:
            return None
        # Its words, not its operators nor what it excludes (semsearch.search.syntax).
        text = parse_query(query).text
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
        depth = max(self.ranker.settings.candidates, k * 10)
        while True:
            ranked = self.backend.nearest(vector, depth, chunk_ids)
            hits: list[Hit] = []
            listed: set[str] = set()
            for _, score, chunk in self.ranker.fetched(ranked, first=max(2 * k, 20)):
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
        return self.backend.store.copy_owners()

    def warm_up(self) -> None:
        """Run one query end to end so the first user does not pay for lazy set-up."""
        self.search("warm up", 1)
        self.suggestions.get()

    def suggest(self, prefix: str, k: int = 8) -> list[Suggestion]:
        """Titles and phrases of the index that start with `prefix` (`semsearch.search.
        suggest`), the most frequent first."""
        return self.suggestions.get().suggest(prefix, k)

    def search(
        self,
        query: Query | str,
        k: int | None = None,
        *,
        mode: str | None = None,
        group: str | None = None,
        filters: Mapping[str, str | None] | None = None,
    ) -> SearchResult:
        """The k passages that best answer `query`, each with its article and credit; with a
        spelling correction offered, or answered for when the query as typed finds nothing
        (`semsearch.search.spelling`).

        `query` is a request already validated with this service's settings (as the web
        layer does), or the query's text with its options, validated here."""
        result = self._search_as_typed(query, k, mode=mode, group=group, filters=filters)

        def corrected(text: str) -> SearchResult:
            retyped = query.model_copy(update={"text": text}) if isinstance(query, Query) else text
            return self._search_as_typed(retyped, k, mode=mode, group=group, filters=filters)

        # A query written with operators is not corrected: a field name or an excluded word
        # would be "corrected" as a misspelt word (semsearch.search.syntax reads it).
        if parse_query(result.query).text.split() != result.query.split():
            return result
        may_apply = query.spell if isinstance(query, Query) else True
        return with_spelling(self.speller, result, corrected, may_apply, self._typo_gain)

    def _search_as_typed(
        self,
        query: Query | str,
        k: int | None = None,
        *,
        mode: str | None = None,
        group: str | None = None,
        filters: Mapping[str, str | None] | None = None,
    ) -> SearchResult:
        """The k passages that best answer `query` as typed (see `search`)."""
        started = time.perf_counter()
        if isinstance(query, Query):
            if (k, mode, group, filters) != (None, None, None, None):
                raise TypeError("a validated Query carries its own k, mode, group and filters")
            valid = query
        else:
            params = {"q": query, "k": k, "mode": mode, "group": group, **(filters or {})}
            valid = validate_query(params, self.settings)
        # The operators filter; both retrievers search the words left (semsearch.search.syntax).
        parsed = parse_query(valid.text)
        check_limits(parsed)
        update = {"text": parsed.text}
        if valid.recency is None and self._recency is not None:
            update["recency"] = self._recency
        searched, inferred = self._with_inferred_dates(valid.model_copy(update=update))
        searched = self._with_language(searched)
        deadline = Deadline.after(self._timeout_ms)
        held = restriction_of(self.backend.store, parsed, searched.lang, deadline, self.words)
        scope = self._scope(searched, held)
        if held is not None and scope is not None and scope.empty and not searched.filters.active():
            ranking = Ranking([], _UNMATCHED)
        else:
            ranking = self.ranker.rank(searched, scope, inferred, deadline)
        start = (valid.page - 1) * valid.k
        hits = mark_strength(ranking.hits, valid.mode, ranking.bounded)[start : start + valid.k]
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
            facets=self._facets(searched, ranking, held),
            inferred=None if inferred is None else inferred.as_dict(),
            sort=valid.sort,
            past_end=past_end,
            language=searched.lang,
            understood_as=parsed.understood_as,
            recency=None if searched.half_life_days is None else searched.recency,
            closest=ranking.closest,
        )

    def _with_language(self, query: Query) -> Query:
        """The query with the language its words are analysed in: `lang` when given, else
        detected, else (a query too short to tell) the collection's main language."""
        fallback = self.backend.analysis_language(None)
        known = self.backend.languages()
        language = query.lang or query_language(query.text, fallback, known)
        return query.model_copy(update={"lang": self.backend.analysis_language(language)})

    def _with_inferred_dates(self, query: Query) -> tuple[Query, InferredDates | None]:
        """The query to run, and with infer_dates the date range its words name: a
        tie-breaker at the top, not a filter, and the question searched as
        typed (`semsearch.search.date_preference`); dates the user gave turn it off."""
        if not query.infer_dates or query.published_from or query.published_to:
            return query, None
        if not self._has_dates:
            return query, None
        # Absolute dates only: an archive's "this year" is rarely the reader's (see dates.py).
        found = infer_dates(query.text, relative=False)
        return query, found

    def _scope(self, query: Query, held: Restriction | None = None) -> Scope | None:
        """The passages the query's filters, and its phrases, exclusions and field scopes
        (`held`), admit (the backend's scope); None when they admit every passage."""
        filters = query.filters
        scope = self.backend.scope(filters) if filters.active() else None
        if held is None or (scope is not None and scope.empty):
            return scope
        return self.backend.narrow(scope, held.within, held.without)

    def _facets(
        self, query: Query, ranking: Ranking, held: Restriction | None = None
    ) -> dict[str, dict[str, int]]:
        """Matching articles per publication, author, year and language; each facet counted with its
        own filter removed, so a filtered facet still shows its other values."""
        facets: dict[str, dict[str, int]] = {name: {} for name in FACET_FILTERS}
        if not ranking.depth:
            return facets
        matched: dict[tuple[str, ...], list[int]] = {(): ranking.matched}
        for name in query.facet_names:  # counted only when asked: the page asks for all
            names = FACET_FILTERS[name]
            active = tuple(n for n in names if getattr(query, n))
            if active not in matched:
                wider = query.model_copy(update=dict.fromkeys(active))
                # Counted, not ranked: the order of the matches (and so the articles'
                # re-scoring) does not change a count.
                found = self.ranker.retrieve(
                    wider,
                    ranking.vector,
                    self._scope(wider, held),
                    ranking.depth,
                    rank_articles=False,
                )
                matched[active] = found.matched
            facts = self.backend.store.article_facts(matched[active])
            facets[name] = count_facet(name, facts.values())
        return facets
