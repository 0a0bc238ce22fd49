"""Ranking one query: candidates from the backend, fusion, article-level evidence, and the
hits joined with their passages and articles, de-duplicated and grouped.

`Ranker` holds what depends only on the loaded index and its settings (fusion, the no-match
threshold, the candidate depth, the article weight), computed once at load; `rank` answers a
validated query to the depth its page needs. Paging, facets and date inference stay in the
service (`semsearch.search.service`), which calls this.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from semsearch.index.embed import Embedder
from semsearch.index.embed.model_languages import model_languages
from semsearch.index.storage.store import StoredChunk
from semsearch.index.text.languages import QUERY_CONFIDENCE, detect_language, foreign_script
from semsearch.search.articles import article_share, blend
from semsearch.search.backends import Backend, Candidates, Scope
from semsearch.search.budget import NO_DEADLINE, Deadline
from semsearch.search.date_preference import prefer_in_range
from semsearch.search.dates import MAX_QUESTION_WORDS, InferredDates
from semsearch.search.facets import date_ordered, matched_chunks
from semsearch.search.fusion import Fusion, Scale, for_coverage, fuse, per_query_fusion
from semsearch.search.highlight import NearDuplicates, best_sentence, find_highlights, shingle
from semsearch.search.query import MAX_DEPTH, Query
from semsearch.search.recency import decayed
from semsearch.search.results import Hit, Passage, article_ref
from semsearch.search.syntax import MAX_SYNTAX_WORDS
from semsearch.settings import DEFAULT_MODEL, explicit_setting, get_setting

log = logging.getLogger(__name__)

#: With group=article, the most other passages listed under an article.
MAX_ALSO = 3
#: Under the no-match threshold hybrid still answers when its two lists agree: the keyword
#: list's best passage is in the article of one of the dense list's first AGREEMENT_DEPTH
#: passages and holds at least AGREEMENT_IDF_SHARE of the query's IDF (`Ranker._lists_agree`;
#: measured in docs/relevance.md, "No good match").
AGREEMENT_DEPTH = 1
AGREEMENT_IDF_SHARE = 0.3


#: The least whole-article weight worth re-scoring a hybrid list with. Below it (a question
#: of under 29 word pieces, at the default article_weight 0.5 and 200-piece passages) an
#: article's evidence moves a passage by under 1 % of the score scale: it re-orders near-ties
#: only, for about a tenth of a request's CPU. Skipped there, nDCG@10 was unchanged on
#: SciFact, news and news-one (0.7357, 0.8620, 0.8304; docs/benchmarks.md, "Fifth pass").
MIN_ARTICLE_WEIGHT = 0.01


@dataclass(frozen=True)
class RankingSettings:
    """What ranking reads from the index and the settings, once, at load."""

    fusion: Fusion
    #: The "no good match" threshold on the best dense similarity.
    min_score: float
    #: Candidates taken from each retriever before fusion (at least; k raises it).
    candidates: int
    #: The largest share of a passage's score its article's evidence may take.
    article_weight: float
    #: The chunker's passage budget in word pieces (a query's share is measured against it).
    passage_tokens: int
    #: Whether hybrid weighs its keyword list per query (`fusion.per_query_fusion`).
    per_query_fusion: bool = False
    #: Where the model's cosines start for bounded fusion (`fusion.Scale`): the no-match
    #: threshold when the build calibrated it for this model and collection, or you chose
    #: it, or the built-in 0.25 with the default model it was calibrated for; None for
    #: another model without a calibration (0.25 says nothing of its scale: the multilingual
    #: model puts unrelated texts above 0.7): bounded fusion is then linear.
    cosine_floor: float | None = None

    @classmethod
    def load(cls, manifest: Any, settings: Mapping[str, Any]) -> RankingSettings:
        """A chosen setting (config or environment) wins, then what the build tuned or
        calibrated for this collection and model (the manifest), then the defaults."""
        tuned = manifest.fusion or {}
        if tuned.get("chosen_by") == "default":
            # The build's probes kept the default: the default of this code, not the one
            # the index was built under.
            tuned = {}

        def pick(name: str, tuned_name: str) -> Any:
            chosen = explicit_setting(name, settings)
            return chosen if chosen is not None else tuned.get(tuned_name, get_setting(name))

        min_score = explicit_setting("min_score", settings)
        if min_score is None:
            min_score = (manifest.no_match or {}).get("min_score")
        floor = None if min_score is None else float(min_score)
        if min_score is None:
            min_score = get_setting("min_score", settings)
            if (manifest.model or {}).get("name") == DEFAULT_MODEL:
                # The built-in threshold was calibrated for the default model (a live
                # index, which starts empty, has nothing to calibrate on).
                floor = float(min_score)
        return cls(
            fusion=Fusion(
                method=str(pick("fusion", "method")),
                dense_weight=float(pick("dense_weight", "dense_weight")),
                rrf_k=int(get_setting("rrf_k", settings)),
            ),
            min_score=float(min_score),
            candidates=int(get_setting("candidates", settings)),
            article_weight=float(get_setting("article_weight", settings)),
            passage_tokens=int(manifest.chunker.get("chunk_tokens") or 200),
            per_query_fusion=bool(get_setting("per_query_fusion", settings)),
            cosine_floor=floor,
        )


@dataclass(frozen=True)
class Retrieval:
    """One round of retrieval at one depth: the dense, keyword and fused lists and the
    matched chunk ids; or, in `refusal`, why nothing is answered."""

    dense: Candidates = field(default_factory=list)
    keyword: Candidates = field(default_factory=list)
    ranked: Candidates = field(default_factory=list)
    matched: list[int] = field(default_factory=list)
    refusal: str | None = None
    #: The best passage's cosine with the query (dense and hybrid), answered or refused.
    closest: float | None = None
    #: Whether hybrid fused by the query's scale (`fusion.Scale`), not min-max.
    bounded: bool = False


@dataclass(frozen=True)
class Ranking:
    """The ranked hits of one query to the depth its page needs, and what facets reuse:
    the matched chunk ids of its first candidate list, its query vector and depth."""

    hits: list[Hit]
    reason: str | None = None
    matched: list[int] = field(default_factory=list)
    vector: np.ndarray | None = None
    depth: int = 0
    #: The best passage's cosine with the query, in dense and hybrid mode (`Retrieval`).
    closest: float | None = None
    #: Whether the scores are bounded fusion's (`Retrieval.bounded`): strength reads them so.
    bounded: bool = False


class Ranker:
    """Ranks queries over one loaded backend; thread-safe (it keeps no per-query state)."""

    def __init__(self, backend: Backend, embedder: Embedder, settings: RankingSettings) -> None:
        self.backend = backend
        self.embedder = embedder
        self.settings = settings
        self.chunk_count = int(backend.manifest.counts["chunks"])
        #: The languages the model reads (its own word, else its model card's).
        self.model_languages = model_languages(embedder)

    def rank(
        self,
        query: Query,
        scope: Scope | None,
        preferred: InferredDates | None = None,
        deadline: Deadline = NO_DEADLINE,
    ) -> Ranking:
        """The ranked, de-duplicated (and grouped) hits from the first to the end of the
        query's page, one more to tell whether a next page exists; with a `preferred` date
        range, ties at the best score broken in its favour (`search.date_preference`);
        SearchTimeoutError once `deadline` has passed."""
        if scope is not None and scope.empty:
            return Ranking([], "no article matches the filters")
        vector = None
        if query.mode in ("dense", "hybrid"):
            vector = self.embedder.encode_query(query.text)  # embedders are thread-safe
        # Candidates well beyond k: fusion, duplicates and grouping all eat into them. The
        # first depth depends on k alone, not on the page: every page ranks the same list.
        depth = max(self.settings.candidates, query.k * 4)
        if query.group:
            depth = max(depth, query.k * 10)
        first_depth = depth
        wanted = query.model_copy(update={"k": min(query.page * query.k + 1, MAX_DEPTH)})
        marked_from = (query.page - 1) * query.k  # the first hit of the page returned
        ranked: Candidates = []
        dense_scores: dict[int, float] = {}
        keyword_scores: dict[int, float] = {}
        matched: list[int] | None = None
        closest: float | None = None
        bounded = False
        while True:
            found = self.retrieve(query, vector, scope, depth)
            if found.refusal is not None:
                return Ranking([], found.refusal, closest=found.closest)
            dense_scores.update(found.dense)
            keyword_scores.update(found.keyword)
            fused = found.ranked
            if query.half_life_days is not None:
                fused = decayed(fused, self._published_of, query.half_life_days)
            if matched is None:
                matched, closest, bounded = found.matched, found.closest, found.bounded
                if preferred is not None:
                    fused = prefer_in_range(
                        fused,
                        self._published_of,
                        preferred.published_from,
                        preferred.published_to,
                        query.mode,
                    )
                if query.sort != "relevance":
                    # The matches, not the whole collection, ordered by date: one fixed set.
                    facts = self.backend.store.article_facts(matched)
                    in_order = dict(found.ranked)
                    by_date = date_ordered(
                        [(cid, in_order[cid]) for cid in matched], facts, query.sort == "newest"
                    )
                    hits = self.hits(
                        wanted, by_date, dense_scores, keyword_scores, deadline, marked_from
                    )
                    return Ranking(hits, None, matched, vector, first_depth, closest, bounded)
            # A deeper list fuses differently (min-max spans move): keep the order already
            # ranked and append only the new candidates, so no page re-orders earlier ones.
            seen = {cid for cid, _ in ranked}
            ranked = ranked + [(cid, score) for cid, score in fused if cid not in seen]
            hits = self.hits(wanted, ranked, dense_scores, keyword_scores, deadline, marked_from)
            exhausted = len(found.dense) < depth and len(found.keyword) < depth
            if len(hits) >= wanted.k or exhausted or depth >= self.chunk_count:
                return Ranking(hits, None, matched, vector, first_depth, closest, bounded)
            # A few long articles or many duplicates used up the candidates: look deeper.
            depth = min(depth * 4, self.chunk_count)

    def retrieve(
        self,
        query: Query,
        vector: np.ndarray | None,
        scope: Scope | None,
        depth: int,
        *,
        rank_articles: bool = True,
    ) -> Retrieval:
        """One round of retrieval at `depth`; without `rank_articles` the fused list is not
        re-scored with article-level evidence (facets only count its matches)."""
        if scope is not None and scope.empty:
            return Retrieval(refusal="no article matches the filters")
        threshold = self.settings.min_score
        dense: Candidates = []
        keyword: Candidates = []
        if vector is not None:
            dense = self.backend.dense(vector, depth, scope)
        closest = dense[0][1] if dense else None
        if query.mode in ("keyword", "hybrid"):
            keyword = self.backend.keyword_search(query.text, depth, scope, query.lang)
            if query.mode == "keyword" and not keyword:
                return Retrieval(refusal="no passage contains any of the query's words")
        if dense and dense[0][1] < threshold and not self._across_languages(query):
            if self._exact_match(query, scope):
                # Answering on the exact match alone: no passage under the threshold
                # rides along on its dense score.
                dense = []
            elif not self._lists_agree(query, dense, keyword):
                return Retrieval(
                    closest=closest,
                    refusal=f"no passage is close enough to the query (best similarity "
                    f"{dense[0][1]:.2f}, threshold {threshold:.2f})",
                )
        scale = None
        if query.mode == "dense":
            ranked = dense
        elif query.mode == "keyword":
            ranked = keyword
        else:
            fusion = self._query_fusion(query, keyword)
            coverage = self.backend.keyword_coverage(query.text, query.lang) if keyword else 1.0
            scale = self._scale(query, fusion, keyword)
            ranked = fuse(dense, keyword, for_coverage(fusion, coverage), scale)
            if rank_articles:
                ranked = self._with_articles(query, vector, ranked, fusion)
        matched = matched_chunks(dense, keyword, ranked, threshold)
        bounded = scale is not None
        return Retrieval(dense, keyword, ranked, matched, closest=closest, bounded=bounded)

    def _query_fusion(self, query: Query, keyword: Candidates) -> Fusion:
        """The fusion for one query: the collection's, unless the model reads the query's
        language and the collection's (`model_reads`). Then a query written in
        a script none of the passages is in gets the dense list alone (its words can match
        theirs only in names and numbers), and with per_query_fusion a question gets the
        keyword weight scaled by how much of its IDF the keyword list's best passage holds
        (`semsearch.search.fusion.per_query_fusion`). Where the model does not read them,
        its dense list is the one not to trust, so neither moves weight to it."""
        fusion = self.settings.fusion
        if not keyword or not self.model_reads(query):
            return fusion
        if foreign_script(query.text, self.backend.languages()):
            return replace(fusion, dense_weight=1.0)
        if not self.settings.per_query_fusion:
            return fusion
        if len(query.text.split()) > MAX_SYNTAX_WORDS:
            # A pasted passage: its best passage holds a small share of its IDF however
            # right it is, so coverage says nothing about the keyword list there.
            return fusion
        coverage = self.backend.idf_coverage(query.text, keyword[0][0], query.lang)
        return fusion if coverage is None else per_query_fusion(fusion, coverage)

    def _across_languages(self, query: Query) -> bool:
        """Whether the query is written in a script none of the passages is in, or surely
        (`QUERY_CONFIDENCE`) in a language none is in, with a model that reads both (an
        English question over Chinese or German passages with the multilingual model). Such
        a query is not refused on the no-match threshold: the build calibrates it with
        questions against the collection's own sentences, and across languages the model's
        cosines do not tell answerable from off-topic questions (English questions over
        XQuAD's Chinese paragraphs, multilingual-e5-small: on-topic p5-p50 0.737-0.765,
        off-topic p50-p90 0.759-0.775; 75 of 150 refused at the calibrated 0.764 while the
        dense list ranks them at nDCG@10 0.89; docs/relevance.md, "No good match"). Asked
        only under the threshold: detecting the language costs about 0.2 ms."""
        if not self.model_reads(query):
            return False
        languages = self.backend.languages()
        if foreign_script(query.text, languages):
            return True
        found = detect_language(query.text)
        return (
            bool(found.language)
            and found.confidence >= QUERY_CONFIDENCE
            and found.language not in languages
            and self.model_languages.reads(found.language)
        )

    def _scale(self, query: Query, fusion: Fusion, keyword: Candidates) -> Scale | None:
        """The range of a question's scores for `bounded` fusion (`fusion.Scale`): the
        no-match threshold to 1 in cosine, 0 to the most its words can score in BM25. None
        (so `linear`) for a query longer than a question, whose best passage holds a small
        share of its words however right it is (bounded fusion lost 0.02-0.05 on paragraph
        queries); where the model does not read the query's language (its cosines are then
        the list not to trust); where the index has no calibrated threshold (the scale of
        its model's cosines is not known); and where the backend cannot bound its BM25."""
        floor = self.settings.cosine_floor
        if fusion.method != "bounded" or floor is None or not keyword:
            return None
        if len(query.text.split()) > MAX_QUESTION_WORDS or not self.model_reads(query):
            return None
        bound = self.backend.score_bound(query.text, query.lang)
        return Scale(floor, bound) if bound else None

    def model_reads(self, query: Query) -> bool:
        """Whether the model reads the query's language (the one it is analysed in) and the
        collection's main language (a few articles in other languages do not count: the news
        set holds one detected as Indonesian and one as Chinese among 643); a multilingual
        model reads any."""
        reads = self.model_languages.reads
        main = self.backend.analysis_language(None)
        language = query.lang if query.lang is not None else main
        return reads(language) and reads(main)

    def _published_of(self, chunk_ids: Sequence[int]) -> dict[int, str | None]:
        """The publication date of each chunk's article."""
        facts = self.backend.store.article_facts(chunk_ids)
        return {cid: fact.published for cid, fact in facts.items()}

    def _exact_match(self, query: Query, scope: Scope | None) -> bool:
        """In hybrid mode, a passage with every query word is evidence enough to answer:
        a rare name can be far from everything in meaning and still be right there."""
        if query.mode != "hybrid":
            return False
        return self.backend.has_all_terms(query.text, scope, query.lang)

    def _lists_agree(self, query: Query, dense: Candidates, keyword: Candidates) -> bool:
        """Under the no-match threshold, hybrid's other evidence: the keyword list's best
        passage is in the article of one of the dense list's first AGREEMENT_DEPTH passages
        and holds at least AGREEMENT_IDF_SHARE of the query's IDF. Two lists that rank text
        differently rarely meet at the top by chance, and a word shared by accident holds
        little of the IDF; either alone refuses too few off-topic questions, so a backend
        that cannot measure the share (the engine) keeps the refusal (docs/relevance.md,
        "When hybrid answers under the threshold")."""
        if not dense or not keyword:
            return False  # dense mode has no second list: its threshold alone decides
        best = keyword[0][0]
        near = [cid for cid, _ in dense[:AGREEMENT_DEPTH]]
        if best not in near:
            articles = self.backend.store.article_keys([*near, best])
            if articles.get(best) is None or articles[best] not in {
                articles.get(cid) for cid in near
            }:
                return False
        coverage = self.backend.idf_coverage(query.text, best, query.lang)
        return coverage is not None and coverage >= AGREEMENT_IDF_SHARE

    def _with_articles(
        self, query: Query, vector: np.ndarray | None, fused: Candidates, fusion: Fusion
    ) -> Candidates:
        """The fused passages re-scored with their articles' whole-article evidence
        (`semsearch.search.articles`); unchanged without it or at article_weight 0."""
        articles = self.backend.articles
        if self.settings.article_weight <= 0 or articles is None or vector is None or not fused:
            return fused
        share = article_share(
            len(self.embedder.token_offsets(query.text)), self.settings.passage_tokens
        )
        weight = self.settings.article_weight * share
        if weight < MIN_ARTICLE_WEIGHT:
            return fused
        ids = [cid for cid, _ in fused]
        chunk_article = articles.keys_of(ids)
        if chunk_article is None:
            chunk_article = self.backend.store.article_keys(ids)
        keys = sorted(set(chunk_article.values()))
        dense = articles.dense_scores(vector, keys)
        keyword = articles.keyword_scores(query.text, keys, query.lang)
        return blend(fused, chunk_article, dense, keyword, fusion, weight)

    def hits(
        self,
        query: Query,
        ranked: Candidates,
        dense: dict[int, float],
        keyword: dict[int, float],
        deadline: Deadline = NO_DEADLINE,
        marked_from: int = 0,
    ) -> list[Hit]:
        """Join ranked chunk ids with their text and article, drop near-duplicates, group;
        the query's words and best sentence are marked in the hits from `marked_from` on
        (the page returned), not in the earlier ones a deep page ranks past."""
        kept: list[Hit] = []
        by_article: dict[str, int] = {}
        seen = NearDuplicates()

        def passage_of(chunk: StoredChunk, place: int) -> Passage:
            if place < marked_from:
                return Passage(chunk.text, chunk.chunk_id, chunk.start, chunk.end)
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

        # A page of k needs k + 2 candidates on SciFact and on the news set (a near-duplicate
        # or two): reading 2k, as before, read every passage's text twice over.
        first = query.k + max(5, query.k // 2)
        for chunk_id, score, chunk in self.fetched(ranked, first=first):
            deadline.check()
            if chunk is None:  # the manifest checks make this unreachable; never fail a query
                log.error("chunk %d is ranked but not in the store", chunk_id)
                continue
            article_id = chunk.article["id"]
            if query.group and article_id in by_article:
                index = by_article[article_id]
                if len(kept[index].also) < MAX_ALSO:
                    also = (*kept[index].also, passage_of(chunk, index))
                    kept[index] = replace(kept[index], also=also)
                continue
            if len(kept) >= query.k:
                if query.group:
                    continue  # still collecting passages for the articles already listed
                break
            if not seen.add_if_new(shingle(chunk.text)):
                continue  # a syndicated copy or a repeated paragraph
            by_article[article_id] = len(kept)
            kept.append(
                Hit(
                    score=round(score, 4),
                    passage=passage_of(chunk, len(kept)),
                    article=article_ref(chunk.article),
                    dense_score=_rounded(dense.get(chunk_id)),
                    keyword_score=_rounded(keyword.get(chunk_id)),
                )
            )
        return kept

    def fetched(
        self, ranked: Candidates, first: int
    ) -> Iterator[tuple[int, float, StoredChunk | None]]:
        """The ranked chunks with their text and article, read from the store a page at a
        time: most queries need little more than k of the candidates, and reading all of
        them (hundreds, for hybrid) was most of a query's time."""
        start, size = 0, first
        while start < len(ranked):
            page = ranked[start : start + size]
            stored = self.backend.store.fetch_chunks([cid for cid, _ in page])
            for chunk_id, score in page:
                yield chunk_id, score, stored.get(chunk_id)
            start, size = start + size, size * 2


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
